/**
 * One declared projection per bucket (Emmett's `{canHandle, evolve}`): the events it
 * handles, what each writes (a key and its new value; null deletes), how a stored entry is
 * read, and how a write meets it. Because events carry whole state, a write needs no previous
 * value, only the telemetry folded in since (domain/telemetry.ts decides which is newer); the
 * version guard of `kvWriter.ts` makes replays harmless. The projector, the heartbeat ingest,
 * lease renewals and rebuild all write through these.
 */
import { idOfInstanceKey, instanceKey, nodeInstanceKey } from "../contract/ids.ts";
import type { BucketEntity, BucketName, Names } from "../contract/names.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import type { ReadResult } from "../contract/validate.ts";
import { readDefinition, readInstance, readNode, readNodeInstance } from "../contract/readers.ts";
import { EVENT_TYPES, type RegistryEvent } from "../domain/events.ts";
import { unhandled } from "../domain/decider.ts";
import { leaseTelemetry } from "../domain/instance.ts";
import { nodeTelemetry } from "../domain/node.ts";
import type { KvBucket, StoredEntry } from "./kvWriter.ts";

export type { BucketName };
/** The entity each bucket holds. */
export type Entities = { definition: Definition; instance: Instance; node: Node; nodeInstance: Instance };
export type ProjectedWrite<T> = { key: string; value: T | null };

export type Projection<T> = {
  entity: BucketName;
  /** Whose events explain an entry, and the id a key is of: where a rebuild looks an entry's version up. */
  eventEntity: BucketEntity;
  idOfKey: (key: string) => string;
  canHandle: readonly RegistryEvent["type"][];
  /** What an event does to the bucket; nothing for an event it does not handle. */
  evolve: (event: RegistryEvent) => ProjectedWrite<T>[];
  /** A stored entry, untrusted until it reads as this bucket's entity under its key. */
  read: (value: unknown, key: string) => ReadResult<T>;
  /** An event's value meeting the stored entry: what is written. */
  merge: (stored: T, value: T) => T;
};

type EventOf<E extends RegistryEvent["type"]> = Extract<RegistryEvent, { type: E }>;

function projection<T, E extends RegistryEvent["type"]>(p: {
  entity: BucketName;
  eventEntity?: BucketEntity;
  idOfKey?: (key: string) => string;
  canHandle: readonly E[];
  evolve: (event: EventOf<E>) => ProjectedWrite<T>[];
  read: (value: unknown, key: string) => ReadResult<T>;
  merge?: (stored: T, value: T) => T;
}): Projection<T> {
  const handled: readonly RegistryEvent["type"][] = p.canHandle;
  const handles = (event: RegistryEvent): event is EventOf<E> => handled.includes(event.type);
  return {
    entity: p.entity,
    eventEntity: p.eventEntity ?? (p.entity as BucketEntity),
    idOfKey: p.idOfKey ?? ((key) => key),
    canHandle: p.canHandle,
    evolve: (event) => (handles(event) ? p.evolve(event) : []),
    read: p.read,
    merge: p.merge ?? ((_stored, value) => value),
  };
}

// Each bucket's projection handles its entity's events (domain/events.ts); expiry protection's
// are read from their own subject, not a bucket.

const definitions = projection({
  entity: "definition",
  canHandle: EVENT_TYPES.definition,
  read: readDefinition,
  evolve: (event) => [event.type === "DefinitionRemoved" ? { key: event.data.id, value: null } : { key: event.data.definition.id, value: event.data.definition }],
});

const instances = projection({
  entity: "instance",
  canHandle: EVENT_TYPES.instance,
  idOfKey: idOfInstanceKey,
  read: readInstance,
  merge: leaseTelemetry.keepNewer,
  evolve(event) {
    switch (event.type) {
      case "InstanceRegistered":
      case "InstanceStatusChanged":
        return [{ key: instanceKey(event.data.instance.slug, event.data.instance.id), value: event.data.instance }];
      case "InstanceUpdated": {
        const { instance, movedFrom } = event.data;
        const put = { key: instanceKey(instance.slug, instance.id), value: instance };
        return movedFrom ? [{ key: instanceKey(movedFrom.slug, instance.id), value: null }, put] : [put];
      }
      case "InstanceRemoved":
      case "InstanceExpired":
        return [{ key: instanceKey(event.data.slug, event.data.id), value: null }];
      default:
        return unhandled(event);
    }
  },
});

/**
 * The per-node index: each instance that names a node (`nodeUrl`), under that node's key, so a
 * node agent follows its own node's instances (`<node key>.>`) and no other. Events say which
 * node an instance left (`leftNodeUrl`) and which node a removed one named.
 */
const nodeInstances = projection({
  entity: "nodeInstance",
  eventEntity: "instance",
  canHandle: EVENT_TYPES.instance,
  idOfKey: idOfInstanceKey, // `<node key>.<id>`: the id follows the first dot, as in `<slug>.<id>`
  read: readNodeInstance,
  merge: leaseTelemetry.keepNewer,
  evolve(event) {
    const on = (i: Instance) => (i.nodeUrl === undefined ? [] : [{ key: nodeInstanceKey(i.nodeUrl, i.id), value: i }]);
    switch (event.type) {
      case "InstanceRegistered":
      case "InstanceStatusChanged":
        return on(event.data.instance);
      case "InstanceUpdated": {
        const { instance, leftNodeUrl } = event.data;
        return [...(leftNodeUrl !== undefined ? [{ key: nodeInstanceKey(leftNodeUrl, instance.id), value: null }] : []), ...on(instance)];
      }
      case "InstanceRemoved":
      case "InstanceExpired":
        return event.data.nodeUrl === undefined ? [] : [{ key: nodeInstanceKey(event.data.nodeUrl, event.data.id), value: null }];
      default:
        return unhandled(event);
    }
  },
});

// Every node event but its removal carries the node whole.
const nodes = projection({
  entity: "node",
  canHandle: EVENT_TYPES.node,
  read: readNode,
  merge: nodeTelemetry.keepNewer,
  evolve: (event) => [event.type === "NodeRemoved" ? { key: event.data.id, value: null } : { key: event.data.node.id, value: event.data.node }],
});

export const PROJECTIONS: { [B in BucketName]: Projection<Entities[B]> } = {
  definition: definitions,
  instance: instances,
  node: nodes,
  nodeInstance: nodeInstances,
};

/** The bucket a projection fills, under this deployment's names, for the KV writer. */
export function bucketOf<T>(names: Names, p: Projection<T>): KvBucket<T> {
  return { name: names.buckets[p.entity], read: p.read };
}

/** The keys an event writes, in every bucket. */
export function keysWrittenBy(event: RegistryEvent): { bucket: BucketName; key: string }[] {
  return Object.values(PROJECTIONS).flatMap((p) => p.evolve(event).map((w) => ({ bucket: p.entity, key: w.key })));
}

/** A read model's copy of each bucket's entries (null: absent; undefined: not known, read it). */
export type KnownEntries = { [B in BucketName]: (key: string) => StoredEntry<Entities[B]> | null | undefined };
