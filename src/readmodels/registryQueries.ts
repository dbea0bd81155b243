/**
 * The read side of the API, answered from memory. Every query first passes the
 * read-your-writes barrier of its bucket, so it sees every write acknowledged before it.
 */
import type { RegistryQueries } from "../contract/api.ts";
import { RegistryError, notFound } from "../contract/errors.ts";
import { selectNodes } from "../domain/placement.ts";
import type { Definition, Node } from "../contract/schemas.ts";
import type { InstancesView } from "./instances.ts";
import type { KvMirror } from "../nats/kvMirror.ts";

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function nodeIdOfUrl(nodes: KvMirror<Node>, url: string): string | undefined {
  for (const n of nodes.values()) if (n.url === url) return n.id;
  return undefined;
}

export function registryQueries(views: {
  definitions: KvMirror<Definition>;
  instances: InstancesView;
  nodes: KvMirror<Node>;
  /** The node of this registry process. */
  selfNodeId: string;
}): RegistryQueries {
  const { definitions, instances, nodes } = views;
  return {
    async getDefinition({ id }) {
      await definitions.sync();
      const definition = definitions.get(id);
      if (!definition) throw notFound(`definition "${id}" not found; list them with registry.definition.list`);
      return { definition };
    },

    async listDefinitions() {
      await definitions.sync();
      return { definitions: [...definitions.values()].sort(byId) };
    },

    async getInstance({ id }) {
      await instances.sync();
      const instance = instances.get(id);
      if (!instance) throw notFound(`instance "${id}" not found; list them with registry.instance.list`);
      return { instance };
    },

    async listInstances(filter) {
      await instances.sync();
      return instances.list(filter);
    },

    async getNode(ref) {
      await nodes.sync();
      const id = ref.id ?? nodeIdOfUrl(nodes, ref.url as string);
      const node = id === undefined ? undefined : nodes.get(id);
      if (!node) throw notFound(`node ${ref.id !== undefined ? `"${ref.id}"` : `with url ${ref.url}`} not found; list them with registry.node.list`);
      return { node };
    },

    async listNodes({ ids }) {
      await nodes.sync();
      const all = [...nodes.values()].sort(byId);
      return { nodes: ids ? all.filter((n) => ids.includes(n.id)) : all };
    },

    async selfNode() {
      await nodes.sync();
      const node = nodes.get(views.selfNodeId);
      if (!node) throw new RegistryError(503, `this registry's node "${views.selfNodeId}" has not joined yet; its first heartbeat is on the way, retry in a moment`);
      return { node };
    },

    async selectNodes(requirements) {
      await nodes.sync();
      return { nodes: selectNodes(nodes.values(), requirements) };
    },
  };
}
