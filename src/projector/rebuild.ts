/**
 * Rebuilds the KV projections from the event stream, in place: every entity's latest
 * readable event is written where its entry is missing, different or unreadable, and the
 * keys the stream does not explain are deleted. The buckets are never emptied, so a rebuild
 * that fails half way leaves them no emptier than it found them, watchers and running
 * registry processes see only real changes, and the telemetry of readable entries
 * (heartbeats and lease renewals, which are not events) is kept.
 *
 * Events carry the entity's whole state, so the latest one alone rebuilds its entry: a
 * million events write one entry per entity. Entries written live after the rebuild began
 * (a version past the stream's last sequence at its start) are left as they are.
 *
 * The replay reads through a short-lived last-per-subject consumer: on nats-server 2.9
 * such a consumer costs more per message the more subjects the stream has, so the
 * long-lived consumers deliver everything instead.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { BUCKET_ENTITIES, type Names } from "../contract/names.ts";
import { idOfInstanceKey } from "../contract/ids.ts";
import { readDefinition, readInstance, readNode } from "../contract/readers.ts";
import { KvMirror } from "../nats/kvMirror.ts";
import type { Instance, Node } from "../contract/schemas.ts";
import type { RegistryEvent } from "../domain/events.ts";
import type { EventStore } from "../eventstore/eventStore.ts";
import { readSubjects } from "../nats/readSubjects.ts";
import { readEvent } from "../eventstore/storedEvents.ts";
import type { Unreadable } from "../unreadable.ts";
import type { KvWriter } from "./kvWriter.ts";
import { writesFor, type BucketName } from "./projections.ts";

const IN_FLIGHT = 64;

export type RebuildDeps = {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  store: EventStore;
  writer: KvWriter;
  unreadable: Unreadable;
  log: Logger;
  now?: () => Date;
  /** Called as entities are replayed: how many so far, of how many subjects the stream holds. */
  progress?: (done: number, total: number) => void;
};

export type RebuildResult = { upTo: number; entities: number; written: number; removed: number };

export async function rebuildProjections(deps: RebuildDeps): Promise<RebuildResult> {
  const { js, jsm, names, store, writer, unreadable } = deps;
  const startedAt = (deps.now?.() ?? new Date()).toISOString();
  const upTo = (await jsm.streams.info(names.eventsStream)).state.last_seq;
  const explained = Object.fromEntries(BUCKET_ENTITIES.map((b) => [b, new Set<string>()])) as Record<BucketName, Set<string>>;
  let entities = 0;
  let written = 0;

  /** Telemetry a lost entry cannot keep: a node's last heartbeat is in the heartbeats stream; a lease restarts now. */
  async function withTelemetry(bucket: BucketName, value: unknown): Promise<unknown> {
    if (bucket === "node") {
      const node = value as Node;
      const beat = await jsm.direct.getMessage(names.heartbeatsStream, { last_by_subj: names.heartbeatSubject(node.id) }).catch(() => null);
      const at = beat?.time.toISOString();
      return at && (!node.lastHeartbeat || at > node.lastHeartbeat) ? { ...node, lastHeartbeat: at } : node;
    }
    const instance = value as Instance;
    if (bucket !== "instance" || instance.ttlSeconds === undefined) return value;
    return !instance.lastHeartbeat || startedAt > instance.lastHeartbeat ? { ...instance, lastHeartbeat: startedAt } : instance;
  }

  // The buckets as they are, read in one pass: most entries are then checked without a read each.
  const current = {
    definition: new KvMirror<unknown>(js, jsm, names.buckets.definition, deps.log, { read: readDefinition }),
    instance: new KvMirror<unknown>(js, jsm, names.buckets.instance, deps.log, { read: readInstance }),
    node: new KvMirror<unknown>(js, jsm, names.buckets.node, deps.log, { read: readNode }),
  };
  await Promise.all(Object.values(current).map((m) => m.start()));
  /** The entry as read at the start; undefined (read it) when it was unreadable. */
  const known = (bucket: BucketName, key: string) => current[bucket].entry(key) ?? (current[bucket].unreadableKeys().has(key) ? undefined : null);

  /**
   * Up to which version an entry is rebuilt: the stream's last sequence at the start, so a
   * live write since is kept; unless the entry claims a later version that no event of its
   * entity has (a forged Registry-Version header), which protects nothing.
   */
  async function replaceUpTo(bucket: BucketName, key: string): Promise<number> {
    const version = current[bucket].entry(key)?.version ?? 0;
    if (version <= upTo) return upTo;
    const event = await jsm.direct.getMessage(names.eventsStream, { seq: version }).catch(() => null);
    const id = bucket === "instance" ? idOfInstanceKey(key) : key;
    return event?.subject === names.eventSubject(bucket, id) ? upTo : Number.POSITIVE_INFINITY;
  }

  async function replay(event: RegistryEvent, seq: number): Promise<void> {
    for (const w of writesFor(event)) {
      if (w.value !== null) explained[w.bucket].add(w.key);
      if (seq > upTo) continue; // the live projector's
      const outcome = await writer.write(names.buckets[w.bucket], w.key, w.value, seq, {
        merge: w.merge,
        known: known(w.bucket, w.key),
        replaceUpTo: await replaceUpTo(w.bucket, w.key),
        whenAbsent: (value) => withTelemetry(w.bucket, value),
      });
      if (outcome === "written") written++;
    }
  }

  let removed = 0;
  const total = (await jsm.streams.info(names.eventsStream)).state.num_subjects ?? 0;
  try {
    const inFlight = new Set<Promise<void>>();
    for await (const m of readSubjects(js, names.eventsStream, names.eventSubjects, "last-per-subject")) {
      let event: RegistryEvent | null;
      const read = readEvent(m.data, m.subject);
      if (read.ok) event = read.value;
      else {
        unreadable.skip("events", String(m.seq), read.reason, { stream: names.eventsStream, subject: m.subject, seq: m.seq });
        event = await store.latestReadableBefore(m.subject, m.seq);
      }
      if (event === null) continue;
      if (m.seq <= upTo) {
        entities++; // later ones are the live projector's
        deps.progress?.(entities, total);
      }
      const p = replay(event, m.seq).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    deps.progress?.(entities, entities); // done: the subjects not counted held nothing readable up to the start

    for (const bucket of BUCKET_ENTITIES) {
      const keys = [...current[bucket].entryKeys(), ...current[bucket].unreadableKeys()];
      for (const key of keys.filter((k) => !explained[bucket].has(k))) {
        const outcome = await writer.write(names.buckets[bucket], key, null, upTo, { replaceUpTo: await replaceUpTo(bucket, key), known: known(bucket, key) });
        if (outcome === "written") removed++;
      }
    }
  } finally {
    for (const m of Object.values(current)) m.stop();
  }
  return { upTo, entities, written, removed };
}

/** Whether a bucket is empty while the stream holds events of its entity: it was purged or lost. */
export async function emptiedBuckets(jsm: JetStreamManager, names: Names): Promise<BucketName[]> {
  const emptied: BucketName[] = [];
  for (const bucket of BUCKET_ENTITIES) {
    const { state } = await jsm.streams.info(`KV_${names.buckets[bucket]}`);
    if (state.messages > 0) continue;
    const anyEvent = await jsm.direct.getMessage(names.eventsStream, { last_by_subj: `${names.prefix}.events.${bucket}.>` });
    if (anyEvent !== null) emptied.push(bucket);
  }
  return emptied;
}
