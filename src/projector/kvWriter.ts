/**
 * Version-guarded KV writes. Every entry (deletes included) carries, in the header
 * `Registry-Version`, the event sequence it reflects; a write of an older or equal
 * version is skipped, and a write is a compare-and-set on the key's revision. So the
 * same event applied twice, two projectors racing, or events applied out of order all
 * end with each key at its newest version.
 *
 * It writes to the bucket's stream directly (src/nats/kvSubjects.ts) because KV's own put
 * and delete cannot carry a header; watchers see ordinary KV entries.
 *
 * Stored entries are untrusted: one this version cannot read (not JSON, or not an entity of
 * its bucket, as the bucket's reader says) protects nothing, whatever version it claims, and
 * is replaced by any write.
 */
import { headers } from "@nats-io/transport-node";
import { StreamApiError, WRONG_LAST_SEQUENCE, type StreamRequests } from "../nats/streamRequests.ts";
import { VERSION_HEADER } from "../contract/names.ts";
import type { ReadResult } from "../contract/validate.ts";
import { sameJson } from "../domain/decider.ts";
import { isKvDeletion, kvStream, kvSubject, markKvDeletion } from "../nats/kvSubjects.ts";

const MAX_ATTEMPTS = 10;

export type WriteOutcome = "written" | "skipped";

/** What is stored under a key: its value (null when deleted or unreadable), KV revision and version. */
export type StoredEntry<T> = { value: T | null; revision: number; version: number };

/** A bucket as the writer sees it: its name, and how a stored value reads as its entity under its key. */
export type KvBucket<T> = { name: string; read: (value: unknown, key: string) => ReadResult<T> };

export type WriteOptions<T> = {
  /** Combines the stored value (when there is a readable one) with the new value before writing. */
  merge?: ((stored: T, value: T) => T) | undefined;
  /** The caller's copy of the entry (null: believed absent): saves the read when current; a stale copy costs a retry. */
  known?: StoredEntry<T> | null | undefined;
  /**
   * A rebuild from events up to this sequence: the entry is replaced whenever it differs
   * from the value, whatever its version, unless a live write after the rebuild began
   * (a version past `replaceUpTo`) got there.
   */
  replaceUpTo?: number;
  /** For a rebuild: completes a value that has no readable stored entry to merge with (lost telemetry). */
  whenAbsent?: (value: T) => Promise<T>;
};

export type KvWriter = {
  /** Writes the value of event `version` (null deletes), unless the key already reflects that version or a later one. */
  write<T>(bucket: KvBucket<T>, key: string, value: T | null, version: number, options?: WriteOptions<T>): Promise<WriteOutcome>;
  /**
   * Rewrites a live entry in place, keeping its version: for data that is not an event
   * (telemetry). `change` returns null to leave it. `known` saves a read when the caller has
   * a recent copy of the entry; a stale copy only costs a retry.
   */
  update<T>(bucket: KvBucket<T>, key: string, change: (value: T) => T | null, known?: StoredEntry<T>): Promise<WriteOutcome>;
};

export function kvWriter(requests: StreamRequests): KvWriter {
  async function read<T>(bucket: KvBucket<T>, key: string): Promise<StoredEntry<T> | null> {
    const m = await requests.lastBySubject(kvStream(bucket.name), kvSubject(bucket.name, key));
    if (m === null) return null;
    const version = Number(m.header?.get(VERSION_HEADER)) || 0;
    if (isKvDeletion(m.header)) return { value: null, revision: m.seq, version };
    let value: unknown;
    try {
      value = m.json();
    } catch {
      return { value: null, revision: m.seq, version: 0 };
    }
    const entity = bucket.read(value, key);
    return entity.ok ? { value: entity.value, revision: m.seq, version } : { value: null, revision: m.seq, version: 0 };
  }

  /** Publishes with compare-and-set on `revision`; false when another writer got there first. */
  async function put<T>(bucket: KvBucket<T>, key: string, value: T | null, version: number, revision: number): Promise<boolean> {
    const h = headers();
    h.set(VERSION_HEADER, String(version));
    if (value === null) markKvDeletion(h);
    try {
      await requests.publish(kvSubject(bucket.name, key), value === null ? undefined : JSON.stringify(value), { headers: h, expectLastSubjectSequence: revision });
      return true;
    } catch (err) {
      if (err instanceof StreamApiError && err.errCode === WRONG_LAST_SEQUENCE) return false;
      throw err;
    }
  }

  return {
    async write(bucket, key, value, version, options = {}) {
      const { merge, known, replaceUpTo, whenAbsent } = options;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const stored = attempt === 1 && known !== undefined ? known : await read(bucket, key);
        if (replaceUpTo === undefined && stored !== null && stored.version >= version) return "skipped";
        if (replaceUpTo !== undefined && stored !== null && stored.version > replaceUpTo) return "skipped";
        let next = value;
        if (value !== null && stored?.value) next = merge ? merge(stored.value, value) : value;
        else if (value !== null && whenAbsent) next = await whenAbsent(value);
        if (replaceUpTo !== undefined && stored !== null && stored.version === version && sameJson(stored.value, next)) return "skipped";
        if (await put(bucket, key, next, version, stored?.revision ?? 0)) return "written";
      }
      throw new Error(`${kvSubject(bucket.name, key)} kept changing for ${MAX_ATTEMPTS} attempts`);
    },

    async update(bucket, key, change, known) {
      let stored = known;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const current = stored ?? (await read(bucket, key));
        if (current === null || current.value === null) return "skipped";
        const next = change(current.value);
        if (next === null) return "skipped";
        if (await put(bucket, key, next, current.version, current.revision)) return "written";
        stored = undefined;
      }
      throw new Error(`${kvSubject(bucket.name, key)} kept changing for ${MAX_ATTEMPTS} attempts`);
    },
  };
}
