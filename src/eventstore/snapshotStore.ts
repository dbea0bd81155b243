/**
 * Where snapshots are kept: a KV bucket of their own (`<prefix>_snapshots`). A bucket rather
 * than an Object Store: the Object Store client is not among the registry's packages, and a
 * bucket gives what is needed (one value per key, direct gets, a purge by subject); a part
 * larger than a message may be (the server's max_payload) is stored as numbered chunks.
 *
 *   manifest.<seq, 16 digits>   the manifest (snapshotLayout.ts), written last
 *   part.<sha256>.<n>           chunk n of a part, gzipped
 *   writer                      which process writes snapshots, and until when (a lease)
 *
 * Everything read here is untrusted: a manifest that does not match the schema or its stamp
 * (the event stream's creation time and the event at its sequence), or a part whose bytes do
 * not match its digest, is logged, counted (`unreadable.snapshots`) and not used.
 */
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gunzip as gunzipCb, gzip as gzipCb } from "node:zlib";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ReadResult } from "../contract/validate.ts";
import { KvMirror } from "../nats/kvMirror.ts";
import type { Names } from "../contract/names.ts";
import { kvOperationOf, kvStream, kvSubject } from "../nats/kvSubjects.ts";
import type { Unreadable } from "../unreadable.ts";
import { eachAtMost } from "../writeQueue.ts";
import { applyDelta, decodePart, readManifest, type Manifest, type PartLines, type PartRef } from "./snapshotLayout.ts";

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** A part is refused past this size unpacked, whatever its manifest claims. */
const MAX_PART_BYTES = 512 * 1024 * 1024;

export type StoredManifest = { key: string; manifest: Manifest };

/** The event stream as a stamp is checked against it. */
export type StreamState = { created: string; firstSeq: number; lastSeq: number; firstTime: string };

export type SnapshotStore = {
  /** The readable manifests, newest first (unreadable ones are counted and left out); `fresh`: every one written so far, else as followed. */
  manifests(fresh?: boolean): Promise<StoredManifest[]>;
  /** Follows the manifests and checks each against the stream ahead of the first answer that needs it. */
  warm(): Promise<void>;
  /** The newest snapshot whose stamp matches the stream (remembered per manifest), of those `accept`ed; `fresh` as manifests(). */
  newestTrusted(stream: StreamState, opts?: { accept?: (m: Manifest) => boolean; fresh?: boolean }): Promise<StoredManifest | undefined>;
  /** The snapshot's chain, oldest (a full one) first, each trusted; undefined when a link is missing or untrusted. */
  chainOf(stored: StoredManifest, stream: StreamState): Promise<StoredManifest[] | undefined>;
  /** A part as the chain has it (the full one's, then each delta's folded in); undefined when one cannot be read. */
  readChainPart(chain: StoredManifest[], part: string): Promise<PartLines | undefined>;
  /** Marks a snapshot as not to be used (a part could not be read): logged and counted once. */
  distrust(stored: StoredManifest, reason: string): void;
  /** A part's text; undefined when it is missing or its bytes do not match the digest. */
  readPart(ref: PartRef): Promise<string | undefined>;
  /** Stores a part (unless a part with its digest is there) and says how to find it. */
  writePart(text: string, entities: number): Promise<PartRef>;
  /** Writes a manifest (in place of one for the same sequence). */
  writeManifest(manifest: Manifest): Promise<void>;
  /** Removes manifests, and the parts they named that no manifest left names (with `sweep`, every such part). */
  prune(remove: StoredManifest[], keep: StoredManifest[], sweep: boolean): Promise<{ manifests: number; parts: number }>;
  stream(): Promise<StreamState>;
  /** Holds (takes or renews) the writer lease for `ms`; false when another process holds it. */
  holdLease(holder: string, ms: number): Promise<boolean>;
  stop(): void;
};

export const manifestKey = (seq: number) => `manifest.${String(seq).padStart(16, "0")}`;
const chunkKey = (digest: string, n: number) => `part.${digest}.${n}`;
const LEASE_KEY = "writer";
/** How stale the followed manifests may be for an answer (a newer snapshot missed is slower, never wrong). */
const SYNC_EVERY_MS = 5000;
/** A pruned manifest's purge marker is removed once this old: every watch has seen it by then. */
const MARKER_AGE_MS = 10 * 60_000;

export function snapshotStore(deps: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; names: Names; unreadable: Unreadable; log: Logger; markerAgeMs?: number }): SnapshotStore {
  const { nc, js, jsm, names, unreadable, log } = deps;
  const bucket = names.snapshotsBucket;
  let kv: Promise<KV> | undefined;
  const open = () =>
    (kv ??= new Kvm(nc).open(bucket).catch((err: unknown) => {
      kv = undefined; // the next call tries again
      throw err;
    }));
  /** Verdicts on manifests, by key and stream: a manifest is checked once. */
  const verdicts = new Map<string, Promise<boolean>>();
  const verdictKey = (stored: StoredManifest, created: string) => `${stored.key} ${created}`;
  /** Chunks are at most what a message may carry, less room for headers. */
  const chunkBytes = () => Math.max(64 * 1024, Math.min(1024 * 1024, nc.info?.max_payload ?? 1024 * 1024) - 16 * 1024);

  const skip = (where: string, reason: string) => unreadable.skip("snapshots", where, reason, { bucket });
  /**
   * The manifests, followed in memory (a watch on `manifest.>`, started at the first need): listing
   * the bucket's keys for each answer started a consumer whose start grows with the parts stored
   * (readSubjects.ts says why), 50-80 ms an answer at a million. Pruned manifests are purged as
   * KV entries, so the watch sees them go.
   */
  let index: Promise<KvMirror<StoredManifest>> | undefined;
  let stopped = false;
  /** When the index last caught up with the bucket: at least every SYNC_EVERY_MS (a sync also restarts a consumer that stalled). */
  let syncedAt = 0;
  const asSnapshots: Unreadable = { skip: (_kind, where, reason, context) => unreadable.skip("snapshots", where, reason, context), counts: () => unreadable.counts() };
  const manifestIndex = () =>
    (index ??= (async () => {
      if (stopped) throw new Error("the snapshot store is stopped");
      await open(); // the bucket exists (the writer made it), or this fails and the next call tries again
      const mirror = new KvMirror<StoredManifest>(js, jsm, bucket, log, { keys: "manifest.>", read: readStored, unreadable: asSnapshots });
      try {
        await mirror.start();
      } catch (err) {
        mirror.stop();
        throw err;
      }
      syncedAt = Date.now();
      return mirror;
    })().catch((err: unknown) => {
      index = undefined;
      throw err;
    }));

  async function manifests(fresh = false): Promise<StoredManifest[]> {
    const mirror = await manifestIndex();
    if (fresh || Date.now() - syncedAt > SYNC_EVERY_MS) {
      await mirror.sync();
      syncedAt = Date.now();
    }
    return [...mirror.values()].sort((a, b) => b.manifest.seq - a.manifest.seq);
  }

  function readStored(value: unknown, key: string): ReadResult<StoredManifest> {
    const manifest = readManifest(value);
    if (!manifest.ok) return manifest;
    if (manifestKey(manifest.value.seq) !== key) return { ok: false, reason: `says sequence ${manifest.value.seq}, not the one its key names` };
    return { ok: true, value: { key, manifest: manifest.value } };
  }

  /**
   * Removes the purge markers of manifests pruned MARKER_AGE_MS ago or more (by subject, which no watch
   * sees: they have seen the marker by then): kept, a year of them would be read by every process at its start.
   */
  async function purgeOldMarkers(): Promise<void> {
    const stream = kvStream(bucket);
    const live = new Set((await manifests(true)).map((m) => kvSubject(bucket, m.key)));
    const { state } = await jsm.streams.info(stream, { subjects_filter: kvSubject(bucket, "manifest.>") });
    for (const subject of Object.keys(state.subjects ?? {})) {
      if (live.has(subject)) continue; // a manifest, or one that cannot be read (left as it is: a marker only goes)
      const last = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => undefined);
      if (last && kvOperationOf(last.header) !== "PUT" && last.time.getTime() <= Date.now() - (deps.markerAgeMs ?? MARKER_AGE_MS)) {
        await jsm.streams.purge(stream, { filter: subject });
      }
    }
  }

  function verified(stored: StoredManifest, stream: StreamState): Promise<boolean> {
    const at = verdictKey(stored, stream.created);
    let verdict = verdicts.get(at);
    if (verdict === undefined) {
      verdict = check(stored, stream);
      verdicts.set(at, verdict);
      const asked = verdict;
      verdict.catch(() => verdicts.get(at) === asked && verdicts.delete(at)); // the stream could not be read: asked again next time
    }
    return verdict;
  }

  async function check(stored: StoredManifest, stream: StreamState): Promise<boolean> {
    const { manifest } = stored;
    let why: string | undefined;
    if (manifest.streamCreated !== stream.created) why = `made on an event stream created ${manifest.streamCreated}, not on this one (created ${stream.created})`;
    else if (manifest.seq > stream.lastSeq) why = `stamped with sequence ${manifest.seq}, past the stream's last (${stream.lastSeq})`;
    else {
      const event = await jsm.streams.getMessage(names.eventsStream, { seq: manifest.seq }).catch((err: unknown) => {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return undefined; // dropped by the per-entity limit since
        throw err;
      });
      if (event && event.subject !== manifest.subject) why = `stamped with ${manifest.subject} at sequence ${manifest.seq}, where the stream holds ${event.subject}`;
    }
    if (why !== undefined) skip(stored.key, why);
    return why === undefined;
  }

  /** Links past this are not followed: a chain is folded into a full snapshot long before. */
  const MAX_LINKS = 1000;

  return {
    manifests,

    async warm() {
      const [all, stream] = await Promise.all([manifests(), this.stream()]);
      await eachAtMost(all, 8, (m) => verified(m, stream).then(() => undefined));
    },

    async chainOf(stored, stream) {
      const bySeq = new Map((await manifests()).map((m) => [m.manifest.seq, m] as const));
      const chain = [stored];
      while (chain[0]!.manifest.kind === "delta" && chain.length < MAX_LINKS) {
        const previous = bySeq.get(chain[0]!.manifest.after);
        if (!previous || previous.manifest.seq >= chain[0]!.manifest.seq) return undefined;
        chain.unshift(previous);
      }
      if (chain[0]!.manifest.kind !== "full") return undefined;
      // Each link checked against the stream at once: a link's first check reads an event from a block of its own.
      return (await Promise.all(chain.map((link) => verified(link, stream)))).every(Boolean) ? chain : undefined;
    },

    async readChainPart(chain, part) {
      const lines: PartLines = new Map();
      for (const stored of chain) {
        const ref = stored.manifest.parts[part];
        if (!ref) continue;
        const text = await this.readPart(ref);
        const read = text === undefined ? undefined : decodePart(text);
        if (!read) return undefined;
        applyDelta(lines, read);
      }
      return lines;
    },

    async newestTrusted(stream, { accept = () => true, fresh = false } = {}) {
      for (const stored of await manifests(fresh)) if (accept(stored.manifest) && (await verified(stored, stream))) return stored;
      return undefined;
    },

    distrust(stored, reason) {
      for (const key of verdicts.keys()) if (key.startsWith(`${stored.key} `)) verdicts.set(key, Promise.resolve(false));
      skip(stored.key, reason);
    },

    async readPart(ref) {
      const store = await open();
      const chunks: Uint8Array[] = [];
      for (let n = 0; n < ref.chunks; n++) {
        const entry = await store.get(chunkKey(ref.digest, n));
        if (!entry || entry.operation !== "PUT") {
          skip(`part.${ref.digest}`, `chunk ${n} of ${ref.chunks} is missing`);
          return undefined;
        }
        chunks.push(entry.value);
      }
      let text: string;
      try {
        text = (await gunzip(Buffer.concat(chunks), { maxOutputLength: Math.min(ref.bytes, MAX_PART_BYTES) + 1 })).toString("utf8");
      } catch (err) {
        skip(`part.${ref.digest}`, `cannot be unpacked: ${(err as Error).message}`);
        return undefined;
      }
      if (digestOf(text) !== ref.digest) {
        skip(`part.${ref.digest}`, "its bytes do not match its digest");
        return undefined;
      }
      return text;
    },

    async writePart(text, entities) {
      const store = await open();
      const digest = digestOf(text);
      const packed = await gzip(text, { level: 3 }); // a fast level: a full snapshot at a million packs 350 MB
      const size = chunkBytes();
      const chunks = Math.max(1, Math.ceil(packed.length / size));
      const ref: PartRef = { digest, chunks, bytes: Buffer.byteLength(text), entities };
      const there = await store.get(chunkKey(digest, chunks - 1));
      if (there?.operation === "PUT" && (await this.readPart(ref)) !== undefined) return ref; // the same content, written for an earlier snapshot, and sound
      for (let n = 0; n < chunks; n++) await store.put(chunkKey(digest, n), packed.subarray(n * size, (n + 1) * size));
      return ref;
    },

    async writeManifest(manifest) {
      // Only the holder of the writer lease writes: one there for the same sequence was built on a chain no longer trusted.
      const key = manifestKey(manifest.seq);
      await (await open()).put(key, JSON.stringify(manifest));
      for (const verdict of verdicts.keys()) if (verdict.startsWith(`${key} `)) verdicts.delete(verdict);
    },

    async prune(remove, keep, sweep) {
      const store = await open();
      const stream = kvStream(bucket);
      await purgeOldMarkers();
      for (const m of remove) await store.purge(m.key); // a KV purge, which the watches of the manifests see
      const named = new Set(keep.flatMap((m) => Object.values(m.manifest.parts).map((p) => p.digest)));
      const candidates = new Set(remove.flatMap((m) => Object.values(m.manifest.parts).map((p) => p.digest)));
      if (sweep) for await (const key of await store.keys("part.>")) candidates.add(key.split(".")[1]!);
      let parts = 0;
      for (const digest of candidates) {
        if (named.has(digest)) continue;
        await jsm.streams.purge(stream, { filter: kvSubject(bucket, `part.${digest}.>`) });
        parts++;
      }
      return { manifests: remove.length, parts };
    },

    async stream() {
      const info = await jsm.streams.info(names.eventsStream);
      return { created: info.created, firstSeq: info.state.first_seq, lastSeq: info.state.last_seq, firstTime: info.state.first_ts };
    },

    stop() {
      stopped = true;
      void index?.then((mirror) => mirror.stop(), () => undefined);
    },

    async holdLease(holder, ms) {
      const store = await open();
      const lease = JSON.stringify({ holder, until: new Date(Date.now() + ms).toISOString() });
      const entry = await store.get(LEASE_KEY);
      try {
        if (!entry || entry.operation !== "PUT") {
          await store.create(LEASE_KEY, lease);
          return true;
        }
        const current = leaseOf(entry.string());
        if (current && current.holder !== holder && current.until > Date.now()) return false;
        await store.update(LEASE_KEY, lease, entry.revision);
        return true;
      } catch {
        return false; // another process took it meanwhile
      }
    },
  };
}

function digestOf(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The lease's holder and end; undefined (anyone may take it) when it cannot be read. */
function leaseOf(text: string): { holder: string; until: number } | undefined {
  try {
    const v = JSON.parse(text) as { holder?: unknown; until?: unknown };
    const until = typeof v.until === "string" ? Date.parse(v.until) : NaN;
    return typeof v.holder === "string" && Number.isFinite(until) ? { holder: v.holder, until } : undefined;
  } catch {
    return undefined;
  }
}
