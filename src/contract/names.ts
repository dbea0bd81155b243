/**
 * Every subject, stream and bucket name the registry uses, derived from one prefix.
 *
 * With the default prefix `registry` the names are those of DESIGN.md:
 * `registry.instance.register`, stream `REGISTRY_EVENTS`, bucket `registry_instances`.
 * Another prefix (`acme.registry`) gives its own set (`ACME_REGISTRY_EVENTS`,
 * `acme_registry_instances`), so several registries can share one NATS account.
 */
/** The header on every KV entry that says which event sequence the entry reflects. */
export const VERSION_HEADER = "Registry-Version";

/** A bucket entry as read: its value, its KV revision, and the event sequence (version) it reflects. */
export type Entry<T> = { value: T; revision: number; version: number };

/** The entities kept in buckets, each in its own. */
export const BUCKET_ENTITIES = ["definition", "instance", "node"] as const;
export type BucketEntity = (typeof BUCKET_ENTITIES)[number];

/**
 * Every bucket: one per entity, and the per-node index of instances (`<node key>.<id>`, the
 * instances naming a node, so that a node agent follows its own node only).
 */
export type BucketName = BucketEntity | "nodeInstance";

/** Every entity with a history: those in buckets, and the registry-wide expiry protection. */
export type Entity = BucketEntity | "protection";

export type Names = {
  prefix: string;
  eventsStream: string;
  /** Where an earlier version stored heartbeats; deleted where found. */
  heartbeatsStream: string;
  buckets: Record<BucketName, string>;
  /** Snapshots of the read models' state (eventstore/snapshotStore.ts): rebuildable from the stream, so not among the buckets above. */
  snapshotsBucket: string;
  /** The subject that holds one entity's history (`>` for every entity of a kind). */
  eventSubject(entity: Entity, id: string): string;
  /** The entity kind and id an event subject names (the other way of eventSubject); undefined for another subject. */
  eventSubjectParts(subject: string): { entity: string; id: string } | undefined;
  /** Every event subject, for the stream and the projector. */
  eventSubjects: string;
  heartbeatSubjects: string;
  heartbeatSubject(nodeId: string): string;
  /** Where an instance's lease is renewed by a publish: its slug and id, so subject permissions say who may renew what. */
  leaseSubject(instanceKey: string): string;
  /** One slug's lease subjects (`_` for instances without one): what the process keeping its leases hears. */
  leaseSubjectsOf(slugToken: string): string;
  /** Where registry processes exchange their share of the lease census. */
  leaseCensus: string;
  /** The instance key (`<slug>.<id>`) a lease subject names; undefined for another subject. */
  leaseSubjectKey(subject: string): string | undefined;
  /** Where one process asks every registry process to read its policy again; nobody outside the registry's account can publish here. */
  policyReloads: string;
};

/** The token after the prefix of every event subject: `<prefix>.events.<entity>.<id>`. */
const EVENTS = "events";

/** Whether `subject` is, under any prefix, the history subject whose tail is `<entity>.<id>`. */
export const isEventSubjectOf = (subject: string, entityAndId: string) => subject.endsWith(`.${EVENTS}.${entityAndId}`);

const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function isValidPrefix(prefix: string): boolean {
  return PREFIX_PATTERN.test(prefix);
}

export function namesFor(prefix: string): Names {
  if (!isValidPrefix(prefix)) {
    throw new Error(`REGISTRY_PREFIX "${prefix}" is not a subject prefix: use tokens of letters, digits, - and _ joined by dots`);
  }
  const flat = prefix.replaceAll(".", "_");
  const eventsPrefix = `${prefix}.${EVENTS}.`;
  const leasePrefix = `${prefix}.lease.`;
  return {
    prefix,
    eventsStream: `${flat.toUpperCase()}_EVENTS`,
    heartbeatsStream: `${flat.toUpperCase()}_HEARTBEATS`,
    buckets: {
      definition: `${flat}_definitions`,
      instance: `${flat}_instances`,
      node: `${flat}_nodes`,
      nodeInstance: `${flat}_node_instances`,
    },
    snapshotsBucket: `${flat}_snapshots`,
    eventSubject: (entity, id) => `${eventsPrefix}${entity}.${id}`,
    eventSubjectParts(subject) {
      if (!subject.startsWith(eventsPrefix)) return undefined;
      const dot = subject.indexOf(".", eventsPrefix.length);
      return dot < 0 ? undefined : { entity: subject.slice(eventsPrefix.length, dot), id: subject.slice(dot + 1) };
    },
    eventSubjects: `${eventsPrefix}>`,
    heartbeatSubjects: `${prefix}.heartbeat.*`,
    heartbeatSubject: (nodeId) => `${prefix}.heartbeat.${nodeId}`,
    leaseSubject: (key) => `${leasePrefix}${key}`,
    leaseSubjectsOf: (slugToken) => `${leasePrefix}${slugToken}.*`,
    leaseCensus: `${prefix}.internal.lease.census`,
    leaseSubjectKey: (subject) => (subject.startsWith(leasePrefix) ? subject.slice(leasePrefix.length) : undefined),
    policyReloads: `${prefix}.internal.policy.reload`,
  };
}
