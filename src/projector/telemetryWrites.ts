/**
 * Telemetry folded into entries between events: a node's heartbeats, an instance's lease
 * renewals. Written in place through the projections' buckets, keeping the entry's version,
 * by the rule of domain/telemetry.ts (the newer `lastHeartbeat` wins, with its fields).
 */
import { instanceKey } from "../contract/ids.ts";
import type { Names } from "../contract/names.ts";
import type { Instance, Node } from "../contract/schemas.ts";
import { leaseTelemetry } from "../domain/instance.ts";
import { nodeTelemetry, type NodeTelemetry } from "../domain/node.ts";
import type { KvWriter, StoredEntry, WriteOutcome } from "./kvWriter.ts";
import { bucketOf, PROJECTIONS } from "./projections.ts";

export type TelemetryWrites = {
  /** Folds a heartbeat's telemetry into its node's entry; `known` saves a read when current. */
  heartbeat: (nodeId: string, telemetry: NodeTelemetry, known?: StoredEntry<Node>) => Promise<WriteOutcome>;
  /** Moves an instance's lease renewal to `at`. */
  renewal: (instance: Instance, at: string) => Promise<WriteOutcome>;
};

export function telemetryWrites(writer: KvWriter, names: Names): TelemetryWrites {
  const nodes = bucketOf(names, PROJECTIONS.node);
  const instances = bucketOf(names, PROJECTIONS.instance);
  return {
    heartbeat: (nodeId, telemetry, known) => writer.update(nodes, nodeId, (node) => nodeTelemetry.fold(node, telemetry), known),
    renewal: (instance, at) => writer.update(instances, instanceKey(instance.slug, instance.id), (stored) => leaseTelemetry.fold(stored, { lastHeartbeat: at })),
  };
}
