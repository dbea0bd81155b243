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
 * its bucket) protects nothing, whatever version it claims, and is replaced by any write.
 */
import { headers } from "@nats-io/transport-node";
import { StreamApiError, WRONG_LAST_SEQUENCE, type StreamRequests } from "../nats/streamRequests.ts";
import { VERSION_HEADER, type Entry } from "../contract/names.ts";
import { sameJson } from "../domain/decider.ts";
import { isKvDeletion, kvStream, kvSubject, markKvDeletion } from "../nats/kvSubjects.ts";

const MAX_ATTEMPTS = 10;

export type WriteOutcome = "written" | "skipped";

/** What is stored under a key: its value (null when deleted or unreadable), KV revision and version. */
export type StoredEntry = Entry<unknown>;

export type WriteOptions = {
  /** Combines the stored value (when there is a readable one) with the new value before writing. */
  merge?: ((stored: unknown, value: unknown) => unknown) | undefined;
  /** The caller's copy of the entry (null: believed absent): saves the read when current; a stale copy costs a retry. */
  known?: StoredEntry | null | undefined;
  /**
   * A rebuild from events up to this sequence: the entry is replaced whenever it differs
   * from the value, whatever its version, unless a live write after the rebuild began
   * (a version past `replaceUpTo`) got there.
   */
  replaceUpTo?: number;
  /** For a rebuild: completes a value that has no readable stored entry to merge with (lost telemetry). */
  whenAbsent?: (value: unknown) => unknown; // may return a promise
};

export type KvWriter = {
  /** Writes the value of event `version` (null deletes), unless the key already reflects that version or a later one. */
  write(bucket: string, key: string, value: unknown, version: number, options?: WriteOptions): Promise<WriteOutcome>;
  /**
   * Rewrites a live entry in place, keeping its version: for data that is not an event
   * (a node's telemetry). `change` returns null to leave it. `known` saves a read when the
   * caller has a recent copy of the entry; a stale copy only costs a retry.
   */
  update(bucket: string, key: string, change: (value: unknown) => unknown, known?: StoredEntry): Promise<WriteOutcome>;
};

/** Whether a stored value is an entity of its bucket, under its key. */
export type EntryCheck = (bucket: string, key: string, value: unknown) => boolean;

export function kvWriter(requests: StreamRequests, readable: EntryCheck = () => true): KvWriter {
  async function read(bucket: string, key: string): Promise<StoredEntry | null> {
    const m = await requests.lastBySubject(kvStream(bucket), kvSubject(bucket, key));
    if (m === null) return null;
    const version = Number(m.header?.get(VERSION_HEADER)) || 0;
    if (isKvDeletion(m.header)) return { value: null, revision: m.seq, version };
    let value: unknown;
    try {
      value = m.json();
    } catch {
      return { value: null, revision: m.seq, version: 0 };
    }
    return readable(bucket, key, value) ? { value, revision: m.seq, version } : { value: null, revision: m.seq, version: 0 };
  }

  /** Publishes with compare-and-set on `revision`; false when another writer got there first. */
  async function put(bucket: string, key: string, value: unknown, version: number, revision: number): Promise<boolean> {
    const h = headers();
    h.set(VERSION_HEADER, String(version));
    if (value === null) markKvDeletion(h);
    try {
      await requests.publish(kvSubject(bucket, key), value === null ? undefined : JSON.stringify(value), { headers: h, expectLastSubjectSequence: revision });
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
      throw new Error(`${kvSubject(bucket, key)} kept changing for ${MAX_ATTEMPTS} attempts`);
    },

    async update(bucket, key, change, known) {
      let stored: StoredEntry | null | undefined = known;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        stored ??= await read(bucket, key);
        if (stored === null || stored.value === null) return "skipped";
        const next = change(stored.value);
        if (next === null) return "skipped";
        if (await put(bucket, key, next, stored.version, stored.revision)) return "written";
        stored = undefined;
      }
      throw new Error(`${kvSubject(bucket, key)} kept changing for ${MAX_ATTEMPTS} attempts`);
    },
  };
}
