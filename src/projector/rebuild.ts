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
import { KvMirror } from "../nats/kvMirror.ts";
import { StorageRefused, historyDropping } from "../nats/provision.ts";
import { leaseTelemetry } from "../domain/instance.ts";
import type { RegistryEvent } from "../domain/events.ts";
import type { EventStore } from "../eventstore/eventStore.ts";
import { readEvents } from "../eventstore/readEvents.ts";
import type { Unreadable } from "../unreadable.ts";
import type { KvWriter, StoredEntry } from "./kvWriter.ts";
import { bucketOf, PROJECTIONS, type BucketName, type Entities, type Projection } from "./projections.ts";
import { kvStream } from "../nats/kvSubjects.ts";

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

/** `kept`: entries the stream no longer explains because it lost their events; left as they are. */
export type RebuildResult = { upTo: number; entities: number; written: number; removed: number; kept: number };

/**
 * A rebuild deletes what the events do not explain, so it refuses to run on a stream that
 * cannot explain everything: one configured to drop history (a limit someone set on an open
 * server), or one created after a bucket that holds entries (deleted and created again).
 */
async function refuseUntrustedStream(jsm: JetStreamManager, names: Names): Promise<void> {
  const events = await jsm.streams.info(names.eventsStream);
  const dropping = historyDropping(events.config, { name: names.eventsStream, subjects: [names.eventSubjects], deny_delete: true, deny_purge: true });
  if (dropping.length > 0) {
    throw new StorageRefused(
      `refusing to rebuild: ${names.eventsStream} has ${dropping.join(", ")}, set outside the registry, so its events may no longer explain every entry and a rebuild would delete what they lost. ` +
        "Set it back (a running registry does so at its next storage check; or nats stream edit), then rebuild; the buckets are left as they are",
    );
  }
  for (const bucket of Object.values(names.buckets)) {
    const kv = await jsm.streams.info(kvStream(bucket)).catch(() => null);
    if (kv && kv.state.messages > 0 && Date.parse(events.created) > Date.parse(kv.created)) {
      throw new StorageRefused(
        `refusing to rebuild: ${names.eventsStream} was created at ${events.created}, after the bucket ${bucket} (${kv.created}) that holds ${kv.state.messages} entries: it was deleted and created again, so it cannot explain them. ` +
          "Restore the stream from a backup; or, to start over on purpose, delete the buckets too",
      );
    }
  }
}

export async function rebuildProjections(deps: RebuildDeps): Promise<RebuildResult> {
  const { js, jsm, names, store, writer, unreadable } = deps;
  await refuseUntrustedStream(jsm, names);
  const startedAt = (deps.now?.() ?? new Date()).toISOString();
  const upTo = (await jsm.streams.info(names.eventsStream)).state.last_seq;
  const explained = Object.fromEntries(Object.keys(PROJECTIONS).map((b) => [b, new Set<string>()])) as Record<BucketName, Set<string>>;
  let entities = 0;
  let written = 0;

  /**
   * Telemetry a lost entry cannot keep: a lease restarts now; a node keeps its event's, since
   * whoever folds its heartbeats holds the latest in memory, and a process that starts, or takes
   * the node over, waits a whole offline window before it judges it (liveness/livenessMonitor.ts).
   */
  const lostTelemetry: { [B in BucketName]: (value: Entities[B]) => Promise<Entities[B]> } = {
    definition: (definition) => Promise.resolve(definition),
    instance: (instance) => Promise.resolve(instance.ttlSeconds === undefined ? instance : (leaseTelemetry.fold(instance, { lastHeartbeat: startedAt }) ?? instance)),
    node: (node) => Promise.resolve(node),
    nodeInstance: (instance) => Promise.resolve(instance.ttlSeconds === undefined ? instance : (leaseTelemetry.fold(instance, { lastHeartbeat: startedAt }) ?? instance)),
  };

  // The buckets as they are, read in one pass: most entries are then checked without a read each.
  const mirrorOf = <T>(p: Projection<T>) => new KvMirror<T>(js, jsm, names.buckets[p.entity], deps.log, { read: p.read });
  const current = { definition: mirrorOf(PROJECTIONS.definition), instance: mirrorOf(PROJECTIONS.instance), node: mirrorOf(PROJECTIONS.node), nodeInstance: mirrorOf(PROJECTIONS.nodeInstance) };
  await Promise.all(Object.values(current).map((m) => m.start()));
  /** The entry as read at the start; undefined (read it) when it was unreadable. */
  const known = <T>(mirror: KvMirror<T>, key: string): StoredEntry<T> | null | undefined => mirror.entry(key) ?? (mirror.unreadableKeys().has(key) ? undefined : null);

  /**
   * Up to which version an entry is rebuilt: the stream's last sequence at the start, so a
   * live write since is kept; unless the entry claims a later version that no event of its
   * entity has (a forged Registry-Version header), which protects nothing.
   */
  async function replaceUpTo(bucket: BucketName, key: string): Promise<number> {
    const version = current[bucket].entry(key)?.version ?? 0;
    if (version <= upTo) return upTo;
    const event = await jsm.direct.getMessage(names.eventsStream, { seq: version }).catch(() => null);
    return event?.subject === eventSubjectOfKey(bucket, key) ? upTo : Number.POSITIVE_INFINITY;
  }

  /** The subject of the entity whose events explain an entry. */
  const eventSubjectOfKey = (bucket: BucketName, key: string) => names.eventSubject(PROJECTIONS[bucket].eventEntity, PROJECTIONS[bucket].idOfKey(key));

  async function replay(event: RegistryEvent, seq: number): Promise<void> {
    await replayInto(PROJECTIONS.definition, current.definition, lostTelemetry.definition, event, seq);
    await replayInto(PROJECTIONS.nodeInstance, current.nodeInstance, lostTelemetry.nodeInstance, event, seq);
    await replayInto(PROJECTIONS.instance, current.instance, lostTelemetry.instance, event, seq);
    await replayInto(PROJECTIONS.node, current.node, lostTelemetry.node, event, seq);
  }
  async function replayInto<T>(p: Projection<T>, mirror: KvMirror<T>, whenAbsent: (value: T) => Promise<T>, event: RegistryEvent, seq: number): Promise<void> {
    for (const w of p.evolve(event)) {
      if (w.value !== null) explained[p.entity].add(w.key);
      if (seq > upTo) continue; // the live projector's
      const replaceUpToKey = await replaceUpTo(p.entity, w.key);
      const outcome = await writer.write(bucketOf(names, p), w.key, w.value, seq, { merge: p.merge, known: known(mirror, w.key), replaceUpTo: replaceUpToKey, whenAbsent });
      if (outcome === "written") written++;
    }
  }

  /** Deletes the keys of a bucket that no event explains, unless the stream lost their events. */
  async function removeUnexplained<T>(p: Projection<T>, mirror: KvMirror<T>): Promise<void> {
    const keys = [...mirror.entryKeys(), ...mirror.unreadableKeys()];
    for (const key of keys.filter((k) => !explained[p.entity].has(k))) {
      const upToForKey = await replaceUpTo(p.entity, key);
      if (upToForKey === upTo && (await streamLostEventOf(p.entity, key))) {
        kept++;
        continue;
      }
      const outcome = await writer.write(bucketOf(names, p), key, null, upTo, { replaceUpTo: upToForKey, known: known(mirror, key) });
      if (outcome === "written") removed++;
    }
  }

  /**
   * Whether the stream still holds the event an unexplained entry says it reflects: if not, the
   * stream lost history (a limit set on it, a restore from an old backup) and the entry is kept.
   */
  async function streamLostEventOf(bucket: BucketName, key: string): Promise<boolean> {
    const version = current[bucket].entry(key)?.version ?? 0;
    if (version === 0) return false; // unreadable, or never versioned: it protects nothing
    const event = await jsm.direct.getMessage(names.eventsStream, { seq: version }).catch(() => null);
    return event?.subject !== eventSubjectOfKey(bucket, key);
  }

  let removed = 0;
  let kept = 0;
  const total = (await jsm.streams.info(names.eventsStream)).state.num_subjects ?? 0;
  try {
    const inFlight = new Set<Promise<void>>();
    for await (const m of readEvents({ js, stream: names.eventsStream, unreadable }, names.eventSubjects, "last-per-subject", { unreadableToo: true })) {
      // An entity whose latest event cannot be read is rebuilt from the one before it.
      const event: RegistryEvent | null = m.event ?? (await store.latestReadableBefore(m.subject, m.seq));
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

    await removeUnexplained(PROJECTIONS.definition, current.definition);
    await removeUnexplained(PROJECTIONS.instance, current.instance);
    await removeUnexplained(PROJECTIONS.node, current.node);
    await removeUnexplained(PROJECTIONS.nodeInstance, current.nodeInstance);
  } finally {
    for (const m of Object.values(current)) m.stop();
  }
  if (kept > 0) deps.log.warn({ kept, stream: names.eventsStream }, "entries kept that the stream no longer explains: it lost their events (history dropped); restore the stream from a backup, or remove them one by one");
  return { upTo, entities, written, removed, kept };
}

/** Whether a bucket is empty while the stream holds events of its entity: it was purged or lost. */
export async function emptiedBuckets(jsm: JetStreamManager, names: Names): Promise<BucketName[]> {
  const emptied: BucketName[] = [];
  for (const bucket of BUCKET_ENTITIES) {
    const { state } = await jsm.streams.info(kvStream(names.buckets[bucket]));
    if (state.messages > 0) continue;
    const anyEvent = await jsm.direct.getMessage(names.eventsStream, { last_by_subj: names.eventSubject(bucket, ">") });
    if (anyEvent !== null) emptied.push(bucket);
  }
  return emptied;
}
