/**
 * What each event does to the KV buckets, as declarations: a list of writes, each a key
 * and its new value (null deletes the key). Because events carry whole state, a write
 * needs no previous value; the version guard of `kvWriter.ts` makes replays harmless.
 */
import { instanceKey } from "../contract/ids.ts";
import type { Node } from "../contract/schemas.ts";
import type { RegistryEvent } from "../domain/events.ts";

export type BucketName = "definition" | "instance" | "node";
export type KvWrite = {
  bucket: BucketName;
  key: string;
  value: unknown | null;
  /** Combines the stored value (when there is one) with `value` before writing. */
  merge?: (stored: unknown, value: unknown) => unknown;
};

type Telemetry = Pick<Node, "lastHeartbeat" | "usage" | "gpus">;

/**
 * A node's telemetry is folded into its entry between events (heartbeats are not
 * events), so an event's snapshot may carry older telemetry than the entry: keep the newer.
 */
export function keepNewerTelemetry(stored: unknown, value: unknown): unknown {
  const s = stored as Node;
  const v = value as Node;
  if (!s?.lastHeartbeat || (v.lastHeartbeat && Date.parse(v.lastHeartbeat) >= Date.parse(s.lastHeartbeat))) return v;
  const telemetry: Telemetry = { lastHeartbeat: s.lastHeartbeat, usage: s.usage, gpus: s.gpus };
  return { ...v, ...telemetry };
}

export function writesFor(event: RegistryEvent): KvWrite[] {
  switch (event.type) {
    case "DefinitionSaved":
      return [{ bucket: "definition", key: event.data.definition.id, value: event.data.definition }];
    case "DefinitionRemoved":
      return [{ bucket: "definition", key: event.data.id, value: null }];
    case "InstanceRegistered":
      return [{ bucket: "instance", key: instanceKey(event.data.instance.slug, event.data.instance.id), value: event.data.instance }];
    case "InstanceUpdated": {
      const { instance, movedFrom } = event.data;
      const put: KvWrite = { bucket: "instance", key: instanceKey(instance.slug, instance.id), value: instance };
      return movedFrom ? [{ bucket: "instance", key: instanceKey(movedFrom.slug, instance.id), value: null }, put] : [put];
    }
    case "InstanceRemoved":
      return [{ bucket: "instance", key: instanceKey(event.data.slug, event.data.id), value: null }];
    case "NodeJoined":
    case "NodeUpdated":
    case "NodeWentOffline":
    case "NodeCameBack":
      return [{ bucket: "node", key: event.data.node.id, value: event.data.node, merge: keepNewerTelemetry }];
    case "NodeRemoved":
      return [{ bucket: "node", key: event.data.id, value: null }];
    default:
      throw new Error(`unknown event type ${(event as { type?: unknown }).type}`);
  }
}
