/**
 * What comes with every request, and the slices of the registry's API each side implements.
 * The API itself is derived from the operation table (operations.ts); its replies are in
 * replies.ts.
 */
import type { RegistryApi } from "./operations.ts";
import type { Caller } from "./schemas.ts";

export type { RegistryApi } from "./operations.ts";
export type { HealthStatus, NodeRefusal, PolicyReload, ServiceSummary } from "./replies.ts";
export type { Caller, ExpiryProtection } from "./schemas.ts";

/** What comes with every request, to every command and query. */
export type RequestFace = "nats" | "http";

export type RequestContext = {
  /** From the request's `Nats-Msg-Id` header: a retry with the same id writes nothing twice. */
  requestId?: string;
  /** Absent for requests from inside the registry's own account (its processes and agents). */
  caller?: Caller;
  /** The face the request came through: its events say so, so history tells a request without a named caller from the registry's own decisions. */
  via?: RequestFace;
  /** Set by the policy for a caller that may read the instances of these slugs only. */
  readableSlugs?: ReadonlySet<string>;
  /** Aborts when the caller stops waiting (its HTTP connection closed): long work stops with it. */
  signal?: AbortSignal;
};

export type NodeRef = { id?: string; url?: string };

/** The operations the write side (commands/) answers. */
export type RegistryCommands = Pick<RegistryApi, "saveDefinition" | "removeDefinition" | "registerInstance" | "removeInstance" | "removeNode" | "reportStatus" | "recordCheck" | "switchProtection">;

/** The operations the read side (readmodels/) answers. */
export type RegistryQueries = Pick<RegistryApi, "getDefinition" | "listDefinitions" | "getInstance" | "listInstances" | "listServices" | "getNode" | "listNodes" | "selfNode" | "selectNodes">;
