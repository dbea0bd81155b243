/**
 * The KV wire grammar of nats-server 2.9, in one place: a bucket is the stream `KV_<bucket>`
 * with one subject `$KV.<bucket>.<key>` per key, and a deleted or purged key is a message whose
 * `KV-Operation` header says DEL or PURGE. The registry reads and writes buckets on that level
 * (to carry version headers and compare-and-set), and so do watchers of a bucket's changes.
 */
import type { MsgHdrs } from "@nats-io/transport-node";

/** The stream that holds a bucket. */
export const kvStream = (bucket: string) => `KV_${bucket}`;

/** The subject of one key of a bucket, or of a key pattern (`>` for every key, `<slug>.>`). */
export const kvSubject = (bucket: string, key: string) => `$KV.${bucket}.${key}`;

/** The key a bucket's subject names; undefined for a subject of another bucket. */
export function kvKeyOf(bucket: string, subject: string): string | undefined {
  const prefix = kvSubject(bucket, "");
  return subject.startsWith(prefix) ? subject.slice(prefix.length) : undefined;
}

export type KvOperation = "PUT" | "DEL" | "PURGE";
const KV_OPERATION = "KV-Operation";

/** What a bucket message does to its key: a message without the header puts its value. */
export function kvOperationOf(headers: MsgHdrs | undefined): KvOperation {
  const op = headers?.get(KV_OPERATION);
  return op === "DEL" || op === "PURGE" ? op : "PUT";
}

/** Whether a bucket message deletes its key (a delete or a purge). */
export const isKvDeletion = (headers: MsgHdrs | undefined) => kvOperationOf(headers) !== "PUT";

/** Marks a message to a key's subject as the key's deletion, as KV's own delete does. */
export const markKvDeletion = (headers: MsgHdrs) => headers.set(KV_OPERATION, "DEL");
