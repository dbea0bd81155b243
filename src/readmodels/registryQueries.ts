/**
 * The read side of the API, answered from memory. Every query first passes the
 * read-your-writes barrier of its bucket, so it sees every write acknowledged before it.
 */
import type { RegistryQueries } from "../contract/api.ts";
import { definitionNotFound, instanceNotFound, nodeNotFound, RegistryError } from "../contract/errors.ts";
import { placeOn, placementRequest } from "../domain/placement.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { matchesFilter, servicesOf, type InstancesView } from "./instances.ts";
import type { KvMirror } from "../nats/kvMirror.ts";
import { byId } from "../contract/ids.ts";
import { after, takePage, takePageBy } from "./paging.ts";
import type { PastScope } from "../contract/readModels.ts";


export function registryQueries(views: {
  definitions: KvMirror<Definition>;
  instances: InstancesView;
  nodes: KvMirror<Node>;
  /** The node that holds a URL (the nodes' URL index). */
  nodeIdOfUrl: (url: string) => string | undefined;
  /** The node of this registry process. */
  selfNode: { id: string; url: string };
  /** How many bytes of items a list reply may carry (the NATS max_payload less room for the rest). */
  replyBudgetBytes: () => number;
  /** The state as it was at a time or after a stream sequence (time travel: lists with asOf); it stops when `signal` aborts. */
  pastState: (asOf: string | number, scope: PastScope, signal?: AbortSignal) => Promise<{ definitions: Definition[]; instances: Instance[]; nodes: Node[] }>;
}): RegistryQueries {
  const { definitions, instances, nodes } = views;
  return {
    async getDefinition({ id }) {
      await definitions.sync();
      const definition = definitions.get(id);
      if (!definition) throw definitionNotFound(id);
      return { definition };
    },

    async listDefinitions({ limit, after: afterId, asOf }, ctx) {
      const all = asOf !== undefined ? (await views.pastState(asOf, { entity: "definition" }, ctx.signal)).definitions : (await definitions.sync(), [...definitions.values()]);
      const { items, next } = takePage(after(all.sort(byId), afterId), limit, views.replyBudgetBytes());
      return { definitions: items, ...(next !== undefined ? { next } : {}) };
    },

    async getInstance({ id }) {
      await instances.sync();
      const instance = instances.get(id);
      if (!instance) throw instanceNotFound(id);
      return { instance };
    },

    async listInstances(filter, ctx) {
      if (filter.asOf !== undefined) {
        const past = (await views.pastState(filter.asOf, { entity: "instance", ...(filter.slug !== undefined ? { slug: filter.slug } : {}) }, ctx.signal)).instances.filter((i) => matchesFilter(i, filter, ctx.readableSlugs)).sort(byId);
        const { items, next } = takePage(after(past, filter.after), filter.limit, views.replyBudgetBytes());
        return { instances: items, ...(next !== undefined ? { next } : {}) };
      }
      await instances.sync();
      return instances.list(filter, views.replyBudgetBytes(), ctx.readableSlugs);
    },

    async listServices({ limit, after: afterSlug, asOf }, ctx) {
      const services = asOf !== undefined ? servicesOf((await views.pastState(asOf, { entity: "instance" }, ctx.signal)).instances, afterSlug, ctx.readableSlugs) : (await instances.sync(), instances.services(afterSlug, ctx.readableSlugs));
      const { items, next } = takePageBy(services, (s) => s.slug, limit, views.replyBudgetBytes());
      return { services: items, ...(next !== undefined ? { next } : {}) };
    },

    async getNode(ref) {
      await nodes.sync();
      const id = ref.id ?? views.nodeIdOfUrl(ref.url ?? "");
      const node = id === undefined ? undefined : nodes.get(id);
      if (!node) throw nodeNotFound(ref);
      return { node };
    },

    async listNodes({ ids, limit, after: afterId, asOf }, ctx) {
      const all = asOf !== undefined ? (await views.pastState(asOf, { entity: "node" }, ctx.signal)).nodes : (await nodes.sync(), [...nodes.values()]);
      const wanted = ids ? new Set(ids) : undefined;
      const sorted = all.filter((n) => !wanted || wanted.has(n.id)).sort(byId);
      const { items, next } = takePage(after(sorted, afterId), limit, views.replyBudgetBytes());
      return { nodes: items, ...(next !== undefined ? { next } : {}) };
    },

    async selfNode() {
      await nodes.sync();
      const self = views.selfNode;
      const node = nodes.get(self.id);
      if (node) return { node };
      const holder = views.nodeIdOfUrl(self.url);
      if (holder !== undefined && holder !== self.id) {
        throw new RegistryError(409, `this registry's node "${self.id}" cannot join: node "${holder}" holds its URL ${self.url}; give this process its own OB_SELF_URL, or remove ${holder} (registry node rm ${holder})`);
      }
      throw new RegistryError(503, `this registry's node "${self.id}" has not joined yet; its first heartbeat is on the way, retry in a moment`);
    },

    async selectNodes(request) {
      const { definitionId, explain, ...limits } = request;
      let requirements;
      if (definitionId !== undefined) {
        await definitions.sync();
        const definition = definitions.get(definitionId);
        if (!definition) throw definitionNotFound(definitionId);
        requirements = definition.requirements;
      }
      await nodes.sync();
      const placement = placeOn(nodes.values(), placementRequest(requirements, limits));
      return explain ? placement : { nodes: placement.nodes };
    },
  };
}
