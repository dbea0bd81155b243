/**
 * Version-guarded KV writes. Every entry (deletes included) carries, in the header
 * `Registry-Version`, the event sequence it reflects; a write of an older or equal
 * version is skipped, and a write is a compare-and-set on the key's revision. So the
 * same event applied twice, two projectors racing, or events applied out of order all
 * end with each key at its newest version.
 *
 * It writes to the bucket's stream directly (a KV bucket is the stream `KV_<bucket>`,
 * one subject `$KV.<bucket>.<key>` per key) because KV's own put and delete cannot carry
 * a header; watchers see ordinary KV entries.
 */
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { VERSION_HEADER } from "../contract/names.ts";

const MAX_ATTEMPTS = 10;

export type WriteOutcome = "written" | "skipped";

/** What is stored under a key: its value (null when deleted), KV revision and version. */
export type StoredEntry = { value: unknown | null; revision: number; version: number };

export type KvWriter = {
  /**
   * Writes the value of event `version`, unless the key already reflects that version or a
   * later one. `known` is the caller's copy of the entry (null: believed absent), which saves
   * the read when it is current; a stale copy only costs a retry.
   */
  write(
    bucket: string,
    key: string,
    value: unknown | null,
    version: number,
    merge?: (stored: unknown, value: unknown) => unknown,
    known?: StoredEntry | null,
  ): Promise<WriteOutcome>;
  /**
   * Rewrites a live entry in place, keeping its version: for data that is not an event
   * (a node's telemetry). `change` returns null to leave it. `known` saves a read when the
   * caller has a recent copy of the entry; a stale copy only costs a retry.
   */
  update(bucket: string, key: string, change: (value: unknown) => unknown | null, known?: StoredEntry): Promise<WriteOutcome>;
};

const isDelete = (m: StoredMsg) => {
  const op = m.header?.get("KV-Operation");
  return op === "DEL" || op === "PURGE";
};

export function kvWriter(js: JetStreamClient, jsm: JetStreamManager): KvWriter {
  async function read(bucket: string, key: string): Promise<StoredEntry | null> {
    const m = await jsm.direct.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` });
    if (m === null) return null;
    return { value: isDelete(m) ? null : m.json(), revision: m.seq, version: Number(m.header?.get(VERSION_HEADER) || 0) };
  }

  /** Publishes with compare-and-set on `revision`; false when another writer got there first. */
  async function put(bucket: string, key: string, value: unknown | null, version: number, revision: number): Promise<boolean> {
    const h = headers();
    h.set(VERSION_HEADER, String(version));
    if (value === null) h.set("KV-Operation", "DEL");
    try {
      await js.publish(`$KV.${bucket}.${key}`, value === null ? undefined : JSON.stringify(value), {
        headers: h,
        expect: { lastSubjectSequence: revision },
      });
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) return false;
      throw err;
    }
  }

  return {
    async write(bucket, key, value, version, merge, known) {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const stored = attempt === 1 && known !== undefined ? known : await read(bucket, key);
        if (stored !== null && stored.version >= version) return "skipped";
        const next = merge && value !== null && stored?.value ? merge(stored.value, value) : value;
        if (await put(bucket, key, next, version, stored?.revision ?? 0)) return "written";
      }
      throw new Error(`$KV.${bucket}.${key} kept changing for ${MAX_ATTEMPTS} attempts`);
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
      throw new Error(`$KV.${bucket}.${key} kept changing for ${MAX_ATTEMPTS} attempts`);
    },
  };
}
