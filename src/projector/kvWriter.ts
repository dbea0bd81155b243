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
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";

export const VERSION_HEADER = "Registry-Version";
const MAX_ATTEMPTS = 10;

export type WriteOutcome = "written" | "skipped";

export type KvWriter = {
  write(bucket: string, key: string, value: unknown | null, version: number): Promise<WriteOutcome>;
};

export function kvWriter(js: JetStreamClient, jsm: JetStreamManager): KvWriter {
  return {
    async write(bucket, key, value, version) {
      const stream = `KV_${bucket}`;
      const subject = `$KV.${bucket}.${key}`;
      for (let attempt = 1; ; attempt++) {
        const current = await jsm.direct.getMessage(stream, { last_by_subj: subject });
        const currentVersion = Number(current?.header?.get(VERSION_HEADER) || 0);
        if (current !== null && currentVersion >= version) return "skipped";
        const h = headers();
        h.set(VERSION_HEADER, String(version));
        if (value === null) h.set("KV-Operation", "DEL");
        try {
          await js.publish(subject, value === null ? undefined : JSON.stringify(value), {
            headers: h,
            expect: { lastSubjectSequence: current?.seq ?? 0 },
          });
          return "written";
        } catch (err) {
          const raced = err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
          if (!raced || attempt >= MAX_ATTEMPTS) throw err;
        }
      }
    },
  };
}
