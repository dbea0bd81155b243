/**
 * The read models of one registry process: mirrors of the three buckets, the instance
 * indexes and the nodes' URL index over them; one interface each onto instances and nodes
 * (contract/readModels.ts) for every part that asks, and what the projector may ask of them.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { NodeReadModel } from "../contract/readModels.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { readDefinition, readInstance, readNode } from "../contract/readers.ts";
import { KvMirror } from "../nats/kvMirror.ts";
import type { BucketName, KnownEntries } from "../projector/projections.ts";
import { compactInstance, interner } from "../readmodels/compact.ts";
import { InstancesView } from "../readmodels/instances.ts";
import { instanceIdForUrl } from "../commands/registryCommands.ts";
import { nodeUrlIndex } from "../readmodels/nodeUrls.ts";
import type { Unreadable } from "../unreadable.ts";
import { idOfInstanceKey, instanceKey, isInstanceKeyOf, slugOfInstanceKey } from "../contract/ids.ts";
import { slugScope, type SlugScope } from "../domain/slugScope.ts";

export type ReadModels = ReturnType<typeof readModels>;

/** Builds them; `start()` reads the buckets in full and follows them. */
export function readModels(deps: { js: JetStreamClient; jsm: JetStreamManager; names: Names; log: Logger; unreadable: Unreadable; slugs?: SlugScope }) {
  const { js, jsm, names, log, unreadable } = deps;
  const slugs = deps.slugs ?? slugScope();
  // REGISTRY_SLUGS: the server filters the bucket for one slug; for several, the mirror passes over the others' entries.
  const holdsKey = (key: string) => slugs.holds(slugOfInstanceKey(key));
  const narrowed = slugs.all ? {} : slugs.single !== undefined ? { keys: `${slugs.single}.>` } : { holds: holdsKey };
  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log, { read: readDefinition, unreadable });
  const pool = interner();
  const readCompactInstance = (value: unknown, key: string) => {
    const read = readInstance(value, key);
    return read.ok ? { ok: true as const, value: compactInstance(read.value, pool) } : read;
  };
  // By id: an instance's id is its key's last token and its own field (readInstance checks both).
  const byId = { ofKey: idOfInstanceKey, ofValue: (i: Instance) => i.id, keyOf: (i: Instance) => instanceKey(i.slug, i.id), isKeyOf: isInstanceKeyOf };
  const instanceMirror = new KvMirror<Instance>(js, jsm, names.buckets.instance, log, { read: readCompactInstance, unreadable, byId, ...narrowed });
  const nodeMirror = new KvMirror<Node>(js, jsm, names.buckets.node, log, { read: readNode, unreadable });
  const instances = new InstancesView(instanceMirror, instanceIdForUrl);
  // Before the mirror starts: it sees every entry, and says which URLs nodes written before URLs were unique share.
  const nodeUrls = nodeUrlIndex(nodeMirror, (url, ids) =>
    log.warn({ url, nodes: ids }, "nodes share a URL (written before a node's URL was its own): instances naming it follow either; remove all but one (registry node rm)"),
  );
  const nodes: NodeReadModel = { sync: () => nodeMirror.sync(), idOfUrl: (url) => nodeUrls.idOfUrl(url) };
  const mirrors = { definition: definitions, instance: instanceMirror, node: nodeMirror } as const;
  const knownEntries: KnownEntries = {
    definition: (key) => definitions.entry(key) ?? null,
    instance: (key) => instanceMirror.entry(key) ?? (holdsKey(key) ? null : undefined), // another slug's: not known here, read before writing
    node: (key) => nodeMirror.entry(key) ?? null,
    nodeInstance: () => undefined, // not mirrored here (node agents follow it): read before writing
  };
  return {
    definitions,
    instanceMirror,
    instances,
    nodeMirror,
    nodes,
    nodeUrls,
    knownEntries,
    whenReflected: (bucket: BucketName, key: string, version: number, withinMs: number) =>
      // The projector writes the per-node index before the instance entry, which is waited for.
      bucket === "nodeInstance" ? Promise.resolve(true) : mirrors[bucket].whenReflects(key, version, withinMs),
    /** Loads the three buckets whole, then follows them; `progress` is told how far each is. */
    start: (progress?: (bucket: string) => (loaded: number, of: number) => void) => Promise.all(Object.values(mirrors).map((m) => m.start(progress?.(m.bucket)))).then(() => undefined),
    /** Waits until all three reflect every write acknowledged so far. */
    sync: () => Promise.all(Object.values(mirrors).map((m) => m.sync())).then(() => undefined),
    stop() {
      for (const m of Object.values(mirrors)) m.stop();
    },
  };
}
