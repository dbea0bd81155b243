/**
 * Enforces the policy on every operation of the API, in one place: each operation names the
 * permission it needs (and for an instance, whose instance it is), the domain's access rules
 * decide, and a refusal is a 403 that says what the caller may do; nothing is written.
 * A service's new instance takes the service's own slug; its lists show what it may read.
 */
import type { RegistryApi, RequestContext } from "../contract/api.ts";
import { notFound, RegistryError } from "../contract/errors.ts";
import { assertMay, assertMayReportOn, assertMaySetStatusAs, checkReporter, ownedSlug, readableSlugs, type Permission, type Principal } from "../domain/access.ts";
import { resolveAddress } from "../domain/address.ts";
import { principalOf, type Policy } from "./policy.ts";

/** What the authorizer needs to know of instances: which slug one has, and which instance holds a URL. */
export type InstanceOwners = {
  sync(): Promise<void>;
  /** undefined: no such instance; otherwise its slug (null when it has none). */
  slugOf(id: string): string | null | undefined;
  idOfUrl(url: string): string | undefined;
  /** The nodeUrl an instance names; undefined for none, or no such instance. */
  nodeUrlOf(id: string): string | undefined;
  /** The URL a node heartbeats with; undefined before it joined. */
  urlOfNode(nodeId: string): Promise<string | undefined>;
};

/** `policy` is read at each request, so a reloaded policy applies to the next one. */
export function authorize(api: RegistryApi, policy: () => Policy | undefined, owners: InstanceOwners): RegistryApi {
  const principal = (ctx: RequestContext) => principalOf(policy(), ctx);
  const may = (ctx: RequestContext, permission: Permission) => assertMay(principal(ctx), permission);

  /** The permission on an existing instance; a missing one is left to the operation (its 404). */
  async function onInstance(p: Principal, permission: Permission, id: string): Promise<void> {
    if (p.kind === "open" || p.kind === "registry") return;
    await owners.sync();
    const slug = owners.slugOf(id);
    if (slug === undefined) return;
    assertMay(p, permission, slug ?? undefined);
  }

  /** Reads of an instance one may not read look like reads of one that is not there. */
  async function viewInstance(p: Principal, id: string): Promise<void> {
    try {
      await onInstance(p, "instance:view", id);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 403) throw notFound(`instance "${id}" not found`, { text: "list them", operation: "instance.list" });
      throw err;
    }
  }

  return {
    saveDefinition: (req, ctx) => (may(ctx, "definition:edit"), api.saveDefinition(req, ctx)),
    removeDefinition: (req, ctx) => (may(ctx, "definition:delete"), api.removeDefinition(req, ctx)),
    getDefinition: (req, ctx) => (may(ctx, "definition:view"), api.getDefinition(req, ctx)),
    listDefinitions: (req, ctx) => (may(ctx, "definition:view"), api.listDefinitions(req, ctx)),

    async registerInstance(req, ctx) {
      const p = principal(ctx);
      const slug = ownedSlug(p, req.slug);
      assertMay(p, "instance:edit", slug);
      const request = slug === undefined ? req : { ...req, slug };
      if (p.kind === "member") {
        // Taking over an instance (by id, or by its URL) is changing it: it must be one's own.
        await owners.sync();
        const holder = owners.idOfUrl(resolveAddress(request).url);
        for (const id of new Set([request.id, holder])) if (id !== undefined) await onInstance(p, "instance:edit", id);
      }
      return api.registerInstance(request, ctx);
    },
    async removeInstance(req, ctx) {
      await onInstance(principal(ctx), "instance:delete", req.id);
      return api.removeInstance(req, ctx);
    },
    async reportStatus(req, ctx) {
      const p = principal(ctx);
      await onInstance(p, "instance:edit", req.id);
      assertMaySetStatusAs(p, req.by);
      return api.reportStatus(req, ctx);
    },
    async renewLease(req, ctx) {
      await onInstance(principal(ctx), "instance:edit", req.id);
      return api.renewLease(req, ctx);
    },
    async recordCheck(req, ctx) {
      const p = principal(ctx);
      assertMay(p, "check:report");
      if (p.kind === "member" && p.role === "agent") {
        await owners.sync();
        const own = p.node === undefined ? undefined : await owners.urlOfNode(p.node);
        const exists = owners.slugOf(req.id) !== undefined;
        assertMayReportOn(p, req.id, exists ? { nodeUrl: owners.nodeUrlOf(req.id) } : undefined, own);
      }
      return api.recordCheck({ ...req, checkedBy: checkReporter(p, ctx.caller, req.checkedBy) }, ctx);
    },
    async getInstance(req, ctx) {
      const p = principal(ctx);
      assertMay(p, "instance:view", p.kind === "member" && p.role === "service" ? p.slug : undefined);
      await viewInstance(p, req.id);
      return api.getInstance(req, ctx);
    },
    async listInstances(req, ctx) {
      const p = principal(ctx);
      const readable = readableSlugs(p);
      if (readable === "all") return (assertMay(p, "instance:view"), api.listInstances(req, ctx));
      if (req.slug !== undefined) assertMay(p, "instance:view", req.slug);
      else assertMay(p, "instance:view", p.kind === "member" ? p.slug : undefined);
      return api.listInstances(req, { ...ctx, readableSlugs: readable });
    },

    getNode: (req, ctx) => (may(ctx, "node:view"), api.getNode(req, ctx)),
    listNodes: (req, ctx) => (may(ctx, "node:view"), api.listNodes(req, ctx)),
    selfNode: (req, ctx) => (may(ctx, "node:view"), api.selfNode(req, ctx)),
    selectNodes: (req, ctx) => (may(ctx, "node:view"), api.selectNodes(req, ctx)),
    removeNode: (req, ctx) => (may(ctx, "node:delete"), api.removeNode(req, ctx)),

    healthStatus: (req, ctx) => (may(ctx, "health:view"), api.healthStatus(req, ctx)),

    async history(req, ctx) {
      const p = principal(ctx);
      if (req.id === undefined) assertMay(p, "audit:view");
      else if (req.entity === "instance") {
        assertMay(p, "instance:view", p.kind === "member" && p.role === "service" ? p.slug : undefined);
        await viewInstance(p, req.id);
        // A service reads the history of instances it can see now; a removed one's slug is not known here.
        if (readableSlugs(p) !== "all" && owners.slugOf(req.id) === undefined) throw notFound(`instance "${req.id}" not found`);
      } else assertMay(p, req.entity === "definition" ? "definition:view" : "node:view");
      return api.history(req, ctx);
    },
    switchProtection: (req, ctx) => (may(ctx, "health:edit"), api.switchProtection(req, ctx)),
  };
}
