/**
 * What each event does to the KV buckets, as declarations: a list of writes, each a key
 * and its new value (null deletes the key). Because events carry whole state, a write
 * needs no previous value; the version guard of `kvWriter.ts` makes replays harmless.
 */
import { instanceKey } from "../contract/ids.ts";
import type { BucketEntity } from "../contract/names.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { isNewerTelemetry } from "../domain/telemetry.ts";
import { unhandled } from "../domain/decider.ts";

export type BucketName = BucketEntity;
export type KvWrite = {
  bucket: BucketName;
  key: string;
  value: unknown;
  /** Combines the stored value (when there is one) with `value` before writing. */
  merge?: (stored: unknown, value: unknown) => unknown;
};

type WithHeartbeat = { lastHeartbeat?: string } & Record<string, unknown>;

/**
 * Telemetry (a node's heartbeats, an instance's lease renewals) is folded into the entry
 * between events, so an event's snapshot may carry older telemetry than the entry: the
 * newer `lastHeartbeat` wins, with the telemetry fields that came with it.
 */
function keepNewerTelemetry(fields: string[]) {
  return (stored: unknown, value: unknown): unknown => {
    const s = stored as WithHeartbeat;
    const v = value as WithHeartbeat;
    if (!isNewerTelemetry(v, s.lastHeartbeat)) return v;
    const telemetry: Record<string, unknown> = {};
    for (const f of fields) if (s[f] !== undefined) telemetry[f] = s[f];
    return { ...v, ...telemetry };
  };
}
export const keepNewerNodeTelemetry = keepNewerTelemetry(["lastHeartbeat", "usage", "gpus"]);
export const keepNewerRenewal = keepNewerTelemetry(["lastHeartbeat"]);

export function writesFor(event: RegistryEvent): KvWrite[] {
  switch (event.type) {
    case "DefinitionSaved":
      return [{ bucket: "definition", key: event.data.definition.id, value: event.data.definition }];
    case "DefinitionRemoved":
      return [{ bucket: "definition", key: event.data.id, value: null }];
    case "InstanceRegistered":
    case "InstanceStatusChanged":
      return [{ bucket: "instance", key: instanceKey(event.data.instance.slug, event.data.instance.id), value: event.data.instance, merge: keepNewerRenewal }];
    case "InstanceUpdated": {
      const { instance, movedFrom } = event.data;
      const put: KvWrite = { bucket: "instance", key: instanceKey(instance.slug, instance.id), value: instance, merge: keepNewerRenewal };
      return movedFrom ? [{ bucket: "instance", key: instanceKey(movedFrom.slug, instance.id), value: null }, put] : [put];
    }
    case "InstanceRemoved":
    case "InstanceExpired":
      return [{ bucket: "instance", key: instanceKey(event.data.slug, event.data.id), value: null }];
    case "NodeJoined":
    case "NodeUpdated":
    case "NodeWentOffline":
    case "NodeCameBack":
      return [{ bucket: "node", key: event.data.node.id, value: event.data.node, merge: keepNewerNodeTelemetry }];
    case "NodeRemoved":
      return [{ bucket: "node", key: event.data.id, value: null }];
    case "ExpiryProtectionEngaged":
    case "ExpiryProtectionReleased":
    case "ExpiryProtectionSwitched":
      return []; // read from its own subject, not a bucket
    default:
      return unhandled(event);
  }
}
