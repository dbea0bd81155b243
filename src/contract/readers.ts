/**
 * Readers of the entities as stored in the buckets (see `reader`): untrusted until they
 * match their schema and sit under the key the key rule gives them.
 */
import { instanceKey, nodeInstanceKey } from "./ids.ts";
import { Definition, Instance, Node } from "./schemas.ts";
import { reader, type ReadResult } from "./validate.ts";

const underKey =
  <T>(read: (value: unknown) => ReadResult<T>, keyOf: (value: T) => string) =>
  (value: unknown, key: string): ReadResult<T> => {
    const result = read(value);
    if (result.ok && keyOf(result.value) !== key) return { ok: false, reason: `stored under ${key}, but its key is ${keyOf(result.value)}` };
    return result;
  };

export const readDefinition = underKey(reader(Definition), (d) => d.id);
export const readInstance = underKey(reader(Instance), (i) => instanceKey(i.slug, i.id));
/** An entry of the per-node index: an instance that names a node, under that node's key. */
export const readNodeInstance = underKey(reader(Instance), (i) => (i.nodeUrl === undefined ? "(no nodeUrl)" : nodeInstanceKey(i.nodeUrl, i.id)));
export const readNode = underKey(reader(Node), (n) => n.id);
