/**
 * The registry's operations, one per request subject. The service adapter maps subjects
 * to these; the write side (commands/) and the read side (readmodels/) implement them.
 */
import type { HistoryEntry, HistoryRequest } from "./schemas.ts";
import type { Definition, Instance, ListDefinitionsRequest, ListInstancesRequest, ListNodesRequest, Node, RegisterInstanceRequest, SelectNodesRequest, ReportStatusRequest, CheckResultRequest } from "./schemas.ts";

/** Who sent a request, as nats-server says: the `Nats-Request-Info` it sets on requests imported from another account. */
export type Caller = { account: string; user?: string; name?: string };

/** What comes with every request, to every command and query. */
export type RequestContext = {
  /** From the request's `Nats-Msg-Id` header: a retry with the same id writes nothing twice. */
  requestId?: string;
  /** Absent for requests from inside the registry's own account (its processes and agents). */
  caller?: Caller;
  /** Set by the policy for a caller that may read the instances of these slugs only. */
  readableSlugs?: ReadonlySet<string>;
  /** Aborts when the caller stops waiting (its HTTP connection closed): long work stops with it. */
  signal?: AbortSignal;
};

export type NodeRef = { id?: string; url?: string };

export type ExpiryProtection = { enabled: boolean; engaged: boolean; since?: string; reason?: string };

export type RegistryCommands = {
  saveDefinition(req: { definition: Definition }, ctx: RequestContext): Promise<{ definition: Definition }>;
  removeDefinition(req: { id: string }, ctx: RequestContext): Promise<Record<string, never>>;
  /** `movedFrom`: the slug the instance had when this registration gave it another one. */
  registerInstance(req: RegisterInstanceRequest, ctx: RequestContext): Promise<{ instance: Instance; movedFrom?: { slug: string } }>;
  removeInstance(req: { id: string }, ctx: RequestContext): Promise<Record<string, never>>;
  removeNode(req: NodeRef, ctx: RequestContext): Promise<Record<string, never>>;
  reportStatus(req: ReportStatusRequest, ctx: RequestContext): Promise<{ instance: Instance }>;
  recordCheck(req: CheckResultRequest, ctx: RequestContext): Promise<{ instance: Instance | null }>;
  switchProtection(req: { enabled: boolean }, ctx: RequestContext): Promise<{ protection: ExpiryProtection }>;
};

/** A node that does not fit: each requirement it fails, as the request's field, what it asks and what the node has. */
export type NodeRefusal = { node: string; failed: { requirement: string; needs: number | string; has: number | string | null }[] };

export type RegistryQueries = {
  getDefinition(req: { id: string }, ctx: RequestContext): Promise<{ definition: Definition }>;
  listDefinitions(req: ListDefinitionsRequest, ctx: RequestContext): Promise<{ definitions: Definition[]; next?: string }>;
  getInstance(req: { id: string }, ctx: RequestContext): Promise<{ instance: Instance }>;
  listInstances(req: ListInstancesRequest, ctx: RequestContext): Promise<{ instances: Instance[]; next?: string; versions?: Record<string, number> }>;
  getNode(req: NodeRef, ctx: RequestContext): Promise<{ node: Node }>;
  listNodes(req: ListNodesRequest, ctx: RequestContext): Promise<{ nodes: Node[]; next?: string }>;
  selfNode(req: object, ctx: RequestContext): Promise<{ node: Node }>;
  /** `refused` with `explain`: each node that does not fit, and the requirements it fails. */
  selectNodes(req: SelectNodesRequest, ctx: RequestContext): Promise<{ nodes: Node[]; refused?: NodeRefusal[] }>;
};

/** Leases and the registry's health, answered by the health side. */
export type HealthApi = {
  renewLease(req: { id: string }, ctx: RequestContext): Promise<{ instance: Instance }>;
  healthStatus(req: object, ctx: RequestContext): Promise<HealthStatus>;
};

export type HealthStatus = {
  protection: ExpiryProtection;
  leases: { total: number; lapsed: number };
  /** The event stream's size against its limit (REGISTRY_EVENTS_MAX_BYTES) and the reserve past it for the registry's own liveness writes. */
  events: { bytes: number; maxBytes: number; reserveBytes: number; messages: number };
  /**
   * The heartbeats stream: the nodes it keeps a heartbeat of, its limit (REGISTRY_HEARTBEAT_SUBJECTS),
   * and the heartbeats dropped before any registry process read them (the same on every process).
   */
  heartbeats: { nodes: number; maxNodes: number; dropped: number };
  /**
   * Changes to the registry's streams and buckets made outside it, found by this process's
   * storage check (REGISTRY_STORAGE_CHECK_MS), and the last one.
   */
  storage: {
    changes: number;
    lastChange?: { at: string; stream: string; missing: boolean; fields: string[]; dropsHistory: string[]; restored: boolean };
  };
  /** Values this process could not read and skipped, by kind. */
  unreadable: { kvEntries: number; events: number; heartbeats: number };
};

/** Every event of one entity, or every change in a time range (the audit log), a page at a time. */
export type HistoryApi = {
  history(req: HistoryRequest, ctx: RequestContext): Promise<{ events: HistoryEntry[]; next?: number }>;
};

/** What one registry process said when asked to read its policy again. */
export type PolicyReload = { process: string; pid: number; ok: boolean; accounts?: number; error?: string };

/** The registry's administration: reading the policy again in every process at once. */
export type AdminApi = {
  reloadPolicy(req: object, ctx: RequestContext): Promise<{ processes: PolicyReload[] }>;
};

export type RegistryApi = RegistryCommands & RegistryQueries & HealthApi & HistoryApi & AdminApi;
