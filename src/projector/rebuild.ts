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
import { StorageRefused, historyDropping } from "../nats/provision.ts";
import type { Instance, Node } from "../contract/schemas.ts";
import type { RegistryEvent } from "../domain/events.ts";
import type { EventStore } from "../eventstore/eventStore.ts";
import { readEvents } from "../eventstore/readEvents.ts";
import type { Unreadable } from "../unreadable.ts";
import type { KvWriter } from "./kvWriter.ts";
import { writesFor, type BucketName } from "./projections.ts";
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

  /**
   * Whether the stream still holds the event an unexplained entry says it reflects: if not, the
   * stream lost history (a limit set on it, a restore from an old backup) and the entry is kept.
   */
  async function streamLostEventOf(bucket: BucketName, key: string): Promise<boolean> {
    const version = current[bucket].entry(key)?.version ?? 0;
    if (version === 0) return false; // unreadable, or never versioned: it protects nothing
    const event = await jsm.direct.getMessage(names.eventsStream, { seq: version }).catch(() => null);
    const id = bucket === "instance" ? idOfInstanceKey(key) : key;
    return event?.subject !== names.eventSubject(bucket, id);
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

    for (const bucket of BUCKET_ENTITIES) {
      const keys = [...current[bucket].entryKeys(), ...current[bucket].unreadableKeys()];
      for (const key of keys.filter((k) => !explained[bucket].has(k))) {
        const upToForKey = await replaceUpTo(bucket, key);
        if (upToForKey === upTo && (await streamLostEventOf(bucket, key))) {
          kept++;
          continue;
        }
        const outcome = await writer.write(names.buckets[bucket], key, null, upTo, { replaceUpTo: upToForKey, known: known(bucket, key) });
        if (outcome === "written") removed++;
      }
    }
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
