/**
 * Writes snapshots: every `everyEvents` events, or `everyMs` after the last snapshot when
 * anything happened since. One process at a time writes (a lease in the snapshot bucket,
 * taken over when its holder stops renewing). A snapshot is the last one's parts with the
 * events since folded in: only the parts those events touch are read and written again,
 * so its cost follows the change, not the size of the registry. After each, snapshots are
 * pruned by the keep rule.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { Instance } from "../contract/schemas.ts";
import type { InstanceEvent } from "../domain/events.ts";
import { LONG_PASS_BATCH, readSubjects } from "../nats/readSubjects.ts";
import { everyTick } from "../ticker.ts";
import type { Unreadable } from "../unreadable.ts";
import { eventOf } from "./readEvents.ts";
import { GONE, SNAPSHOT_ENTITIES, SNAPSHOT_FORMAT, applyDelta, encodePart, partOf, slugBefore, snapshotsKept, stateAfter, type Manifest, type PartRef, type SnapshotEntity } from "./snapshotLayout.ts";
import type { SnapshotStore, StoredManifest, StreamState } from "./snapshotStore.ts";

export type SnapshotPolicy = {
  /** A snapshot after this many events (REGISTRY_SNAPSHOT_EVENTS); 0: no snapshots. */
  everyEvents: number;
  /** Or this long after the last one, when events came since (REGISTRY_SNAPSHOT_MINUTES). */
  everyMs: number;
  /** Which are kept (snapshotLayout.ts, snapshotsKept): every one of the last `days`, and the newest `newest`. */
  keep: { newest: number; days: number };
  /** How many parts instances are cut into (by slug). */
  shards: number;
  /** How often this process looks whether one is due. */
  checkMs: number;
  /** A full snapshot after this many in a chain (deltas cost what changed; a long chain costs each answer a part more per delta). */
  chain: number;
};

/** Changes by part: subject to its state's JSON, null when it left the part. */
type Changes = Map<string, Map<string, string | null>>;

/** A part's changes as a delta's lines (`null` is GONE). */
const deltaLines = (lines: Map<string, string | null>) => new Map([...lines].map(([subject, state]) => [subject, state ?? GONE]));

function changeIn(changes: Changes, part: string, subject: string, line: string | null): void {
  let lines = changes.get(part);
  if (!lines) changes.set(part, (lines = new Map<string, string | null>()));
  lines.set(subject, line);
}

const LEASE_MS = 60_000;

export type SnapshotCounts = { written: number; lastSeq: number; lastSeconds: number; pruned: number };

export function snapshotWriter(deps: { js: JetStreamClient; store: SnapshotStore; names: Names; unreadable: Unreadable; log: Logger; policy: SnapshotPolicy; holder: string; now?: () => Date }) {
  const { js, store, names, unreadable, log, policy } = deps;
  const now = deps.now ?? (() => new Date());
  const counts: SnapshotCounts = { written: 0, lastSeq: 0, lastSeconds: 0, pruned: 0 };

  /** Writes a snapshot when one is due; says which (undefined: none due, or another process writes them). */
  async function writeIfDue(): Promise<Manifest | undefined> {
    if (policy.everyEvents <= 0) return undefined;
    const stream = await store.stream();
    const base = await store.newestTrusted(stream, { fresh: true });
    const from = base?.manifest.seq ?? 0;
    if (stream.lastSeq <= from) return undefined;
    const since = Date.parse(base?.manifest.writtenAt ?? stream.firstTime);
    if (stream.lastSeq - from < policy.everyEvents && !(now().getTime() - since >= policy.everyMs)) return undefined;
    // The lease only when one is due: a quiet registry writes nothing, not even the lease.
    if (!(await store.holdLease(deps.holder, LEASE_MS))) return undefined;
    // At most `everyEvents` a snapshot, also when behind (after a burst): snapshots stay that close, and what one holds in memory bounded.
    return write(base, stream, Math.min(stream.lastSeq, from + policy.everyEvents));
  }

  async function write(base: StoredManifest | undefined, stream: StreamState, until: number): Promise<Manifest | undefined> {
    const started = performance.now();
    const chain = base ? await store.chainOf(base, stream) : [];
    if (!chain) {
      store.distrust(base!, "a snapshot of its chain is missing or not trusted");
      return undefined; // the next tick starts from an older snapshot, or from the stream's start
    }
    const shards = base?.manifest.shards ?? policy.shards;
    const window = await foldWindow(base?.manifest.seq ?? 0, until, shards);
    if (window.last === undefined) return undefined;
    // An instance whose earlier part is not certain leaves every other part.
    for (const [subject, home] of window.moved) {
      for (let shard = 0; shard < shards; shard++) {
        const part = `instance.${shard}`;
        if (part !== home && !window.changes.get(part)?.has(subject)) changeIn(window.changes, part, subject, null);
      }
    }
    const full = chain.length === 0 || chain.length >= policy.chain;
    const parts = full ? await foldedParts(chain, window.changes) : await deltaParts(window.changes);
    if (!parts) {
      store.distrust(base!, "a part of its chain cannot be read");
      return undefined;
    }
    const manifest: Manifest = {
      format: SNAPSHOT_FORMAT,
      kind: full ? "full" : "delta",
      after: full ? 0 : base!.manifest.seq,
      seq: window.last.seq,
      subject: window.last.subject,
      at: window.at ?? base?.manifest.at ?? new Date(0).toISOString(),
      streamCreated: stream.created,
      writtenAt: now().toISOString(),
      shards,
      parts,
    };
    await store.writeManifest(manifest);
    counts.written++;
    counts.lastSeq = manifest.seq;
    counts.lastSeconds = (performance.now() - started) / 1000;
    log.info({ seq: manifest.seq, kind: manifest.kind, parts: Object.keys(parts).length, events: window.events, seconds: Math.round(counts.lastSeconds * 10) / 10 }, "wrote a snapshot");
    await prune(full);
    return manifest;
  }

  /** A delta: each part the window changed, with its changes only (`null`: gone from it). */
  async function deltaParts(changes: Changes): Promise<Record<string, PartRef>> {
    const parts: Record<string, PartRef> = {};
    for (const [part, lines] of changes) {
      const text = deltaLines(lines);
      parts[part] = await store.writePart(encodePart(text), text.size);
    }
    return parts;
  }

  /** A full snapshot: the chain folded with the window, every part; one no change touched is the same part, not written again. */
  async function foldedParts(chain: StoredManifest[], changes: Changes): Promise<Record<string, PartRef> | undefined> {
    const parts: Record<string, PartRef> = {};
    const partNames = new Set([...chain.flatMap((m) => Object.keys(m.manifest.parts)), ...changes.keys()]);
    for (const part of partNames) {
      const inFull = chain.length === 1 ? chain[0]!.manifest.parts[part] : undefined;
      if (inFull && !changes.has(part)) {
        parts[part] = inFull; // a full snapshot's part no event touched since
        continue;
      }
      const lines = chain.length > 0 ? await store.readChainPart(chain, part) : new Map<string, string>();
      if (!lines) return undefined;
      applyDelta(lines, deltaLines(changes.get(part) ?? new Map<string, string | null>()));
      if (lines.size > 0) parts[part] = await store.writePart(encodePart(lines), lines.size);
      await store.holdLease(deps.holder, LEASE_MS);
    }
    return parts;
  }

  /**
   * The events after `from` up to `until`, as changes by part: subject to its state's JSON
   * (null: gone from that part). `moved`: instances whose earlier part is not certain (an
   * event of theirs could not be read), with the part they are in now; every other part drops them.
   */
  async function foldWindow(from: number, until: number, shards: number) {
    const changes: Changes = new Map();
    const change = (part: string, subject: string, line: string | null) => changeIn(changes, part, subject, line);
    const unsure = new Set<string>();
    const moved = new Map<string, string>();
    let last: { seq: number; subject: string } | undefined;
    let at: string | undefined;
    let events = 0;
    for await (const m of readSubjects(js, names.eventsStream, names.eventSubjects, { startSeq: from + 1 }, { batch: LONG_PASS_BATCH, filterHere: true })) {
      if (m.seq > until) break;
      last = { seq: m.seq, subject: m.subject };
      events++;
      const entity = names.eventSubjectParts(m.subject)?.entity as SnapshotEntity | undefined;
      if (entity === undefined || !SNAPSHOT_ENTITIES.includes(entity)) continue;
      const event = eventOf(m, names.eventsStream, unreadable);
      if (!event) {
        if (entity === "instance") unsure.add(m.subject);
        continue;
      }
      at = event.metadata.at;
      const state = stateAfter(entity, event);
      if (entity === "instance") {
        const before = partOf("instance", slugBefore(event as InstanceEvent), shards);
        const after = state ? partOf("instance", (state as Instance).slug, shards) : before;
        if (before !== after) change(before, m.subject, null);
        change(after, m.subject, state ? JSON.stringify(state) : null);
        if (unsure.has(m.subject)) moved.set(m.subject, after);
      } else change(entity, m.subject, state ? JSON.stringify(state) : null);
    }
    return { changes, moved, last, at, events };
  }

  /** `sweep`: also parts no manifest ever named (a write cut short), found by listing every part: after a full snapshot only. */
  async function prune(sweep: boolean): Promise<void> {
    const all = await store.manifests(true);
    const kept = snapshotsKept(all.map((s) => ({ ...s, seq: s.manifest.seq, writtenAt: s.manifest.writtenAt })), now(), policy.keep);
    // A delta kept keeps its chain.
    const bySeq = new Map(all.map((m) => [m.manifest.seq, m]));
    const keepKeys = new Set<string>();
    for (const k of kept) {
      for (let m: StoredManifest | undefined = k; m && !keepKeys.has(m.key); m = m.manifest.kind === "delta" ? bySeq.get(m.manifest.after) : undefined) keepKeys.add(m.key);
    }
    const remove = all.filter((s) => !keepKeys.has(s.key));
    if (remove.length === 0 && !sweep) return;
    const done = await store.prune(remove, all.filter((s) => keepKeys.has(s.key)), sweep);
    counts.pruned += done.manifests;
    if (done.manifests + done.parts > 0) log.info(done, "pruned snapshots");
  }

  /** Writes the snapshots due, one after the other, until none is (a writer behind catches up); the last written, if any. */
  async function catchUp(): Promise<Manifest | undefined> {
    let last: Manifest | undefined;
    for (let written: Manifest | undefined; !stopped && (written = await writeIfDue()) !== undefined; ) last = written;
    return last;
  }
  let stopped = false;
  const ticker = policy.everyEvents > 0 ? everyTick(policy.checkMs, async () => void (await catchUp()), log, "writing a snapshot") : undefined;
  return {
    writeIfDue,
    catchUp,
    counts: (): SnapshotCounts => ({ ...counts }),
    stop: () => {
      stopped = true;
      ticker?.stop();
    },
  };
}
