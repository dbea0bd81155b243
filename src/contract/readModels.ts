/**
 * The read models as the rest of the registry asks them (readmodels/ keeps them from the
 * buckets): one interface each, so that every part waits on the same sync and resolves a
 * URL through the same index. Each part takes the few methods it needs (`Pick`).
 */
import type { Entry } from "./names.ts";
import type { Instance } from "./schemas.ts";

export type InstanceReadModel = {
  /** Waits until it reflects every write acknowledged so far. */
  sync(): Promise<void>;
  get(id: string): Instance | undefined;
  /** Its copy of an instance and the event version it reflects (a hint: it may be stale). */
  entry(id: string): Entry<Instance> | undefined;
  /** The instance that holds a URL (one URL, one instance). */
  idOfUrl(url: string): string | undefined;
  /** The instances with a lease (`ttlSeconds`). */
  leased(): Iterable<Instance>;
};

export type NodeReadModel = {
  sync: () => Promise<void>;
  /** The node that holds a URL. */
  idOfUrl: (url: string) => string | undefined;
};

/** What a past state (time travel) is asked for: one kind of entity, and of instances those of one slug when given. */
export type PastScope = { entity: "definition" } | { entity: "node" } | { entity: "instance"; slug?: string };
