/**
 * Fills the per-node index from the instances bucket where it was never written: a
 * deployment that ran a version without it has instances naming nodes and an empty index,
 * and its agents would find nothing to check. Each entry is written at its instance entry's
 * version, so a live event that got there first wins, and two processes filling at once
 * write each key once.
 */
import type { Logger } from "pino";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Entry, Names } from "../contract/names.ts";
import type { Instance } from "../contract/schemas.ts";
import { nodeInstanceKey } from "../contract/ids.ts";
import { kvStream } from "../nats/kvSubjects.ts";
import type { KvWriter } from "./kvWriter.ts";
import { bucketOf, PROJECTIONS } from "./projections.ts";

export async function fillNodeIndexIfNeverWritten(deps: { jsm: JetStreamManager; writer: KvWriter; names: Names; instances: () => Iterable<Entry<Instance>>; log: Logger }): Promise<number> {
  const { state } = await deps.jsm.streams.info(kvStream(deps.names.buckets.nodeInstance));
  if (state.last_seq > 0) return 0;
  const index = bucketOf(deps.names, PROJECTIONS.nodeInstance);
  let written = 0;
  for (const { value, version } of deps.instances()) {
    if (value.nodeUrl === undefined) continue;
    const outcome = await deps.writer.write(index, nodeInstanceKey(value.nodeUrl, value.id), value, version, { merge: PROJECTIONS.nodeInstance.merge, known: null });
    if (outcome === "written") written++;
  }
  if (written > 0) deps.log.info({ written, bucket: index.name }, "filled the per-node index from the instances bucket (it was never written: an earlier version kept none)");
  return written;
}
