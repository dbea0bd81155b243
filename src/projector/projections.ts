/**
 * What each event does to the KV buckets, as declarations: a list of writes, each a key
 * and its new value (null deletes the key). Because events carry whole state, a write
 * needs no previous value; the version guard of `kvWriter.ts` makes replays harmless.
 */
import { instanceKey } from "../contract/ids.ts";
import type { RegistryEvent } from "../domain/events.ts";

export type BucketName = "definition" | "instance" | "node";
export type KvWrite = { bucket: BucketName; key: string; value: unknown | null };

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
      return [{ bucket: "node", key: event.data.node.id, value: event.data.node }];
    case "NodeRemoved":
      return [{ bucket: "node", key: event.data.id, value: null }];
  }
}
