/**
 * Enforces the policy on every operation of the API, in one place: each operation names the
 * permission it needs (and for an instance, whose instance it is), the domain's access rules
 * decide, and a refusal is a 403 that says what the caller may do; nothing is written.
 * A service's new instance takes the service's own slug, at an address its policy grants, under
 * an id of its own; its lists and histories show what it may read, and its replies what its
 * checks concluded rather than what the probe saw.
 */
import type { RegistryApi, RequestContext } from "../contract/api.ts";
import { instanceNotFound, RegistryError } from "../contract/errors.ts";
import type { HistoryEntry } from "../contract/schemas.ts";
import { grantsOf, instanceSeenBy, assertMay, assertMayChooseId, assertMayRegisterAt, assertMayReportOn, assertMaySetStatusAs, checkReporter, ownedSlug, readableSlugs, seesCheckDetail, type Principal } from "../domain/access.ts";
import type { Permission } from "../contract/permissions.ts";
import { OPERATIONS } from "../contract/operations.ts";
import { resolveAddress } from "../domain/address.ts";
import type { InstanceReadModel } from "../contract/readModels.ts";
import { principalOf, type Policy } from "./policy.ts";

/** What the authorizer needs to know of instances: the read model (which slug one has, which holds a URL), and the id a registration of a URL without one gets. */
export type InstanceOwners = {
  instances: Pick<InstanceReadModel, "sync" | "get" | "idOfUrl">;
  derivedId(url: string): string;
};

const CHECK_CAUSE = /^check-(.*)$/;
/** A history entry, likewise: a check's status change says its outcome, not the probe's answer. */
function entryOutcomeOnly(entry: HistoryEntry): HistoryEntry {
  const outcome = CHECK_CAUSE.exec(entry.cause ?? "")?.[1];
  // An update's details may be a probe's answer: their values are for operators too.
  const changes = entry.changes?.map((c) => (c.field === "details" ? { field: c.field } : c));
  const seen = changes ? { ...entry, changes } : entry;
  return outcome === undefined ? seen : { ...seen, reason: `a check's outcome was ${outcome} (what the probe saw is shown to operators only)` };
}

/** An entry as a reader of `readable` slugs only sees it: a move's slug before or after, when it is not one of them, is left out. */
function withoutHiddenSlugs(entry: HistoryEntry, readable: ReadonlySet<string>): HistoryEntry {
  const hidden = (v: unknown) => typeof v === "string" && !readable.has(v);
  if (!entry.changes?.some((c) => c.field === "slug" && (hidden(c.from) || hidden(c.to)))) return entry;
  return { ...entry, changes: entry.changes.map((c) => (c.field === "slug" ? { field: c.field, ...(hidden(c.from) ? {} : { from: c.from }), ...(hidden(c.to) ? {} : { to: c.to }) } : c)) };
}

/** `policy` is read at each request, so a reloaded policy applies to the next one. */
export function authorize(api: RegistryApi, policy: () => Policy | undefined, owners: InstanceOwners): RegistryApi {
  const principal = (ctx: RequestContext) => principalOf(policy(), ctx);
  const may = (ctx: RequestContext, permission: Permission | "any") => permission === "any" || assertMay(principal(ctx), permission);

  /** The permission on an existing instance; a missing one is left to the operation (its 404). */
  async function onInstance(p: Principal, permission: Permission, id: string): Promise<void> {
    if (p.kind === "open" || p.kind === "registry") return;
    await owners.instances.sync();
    onSyncedInstance(p, permission, id);
  }
  /** The same, on a read model synced for this request already. */
  function onSyncedInstance(p: Principal, permission: Permission, id: string): void {
    const instance = owners.instances.get(id);
    if (instance !== undefined) assertMay(p, permission, instance.slug);
  }

  /** What a reply shows `p` of an instance. */

  /** Reads of an instance one may not read look like reads of one that is not there. */
  async function viewInstance(p: Principal, id: string): Promise<void> {
    try {
      await onInstance(p, "instance:view", id);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 403) throw instanceNotFound(id);
      throw err;
    }
  }

  return {
    saveDefinition: (req, ctx) => (may(ctx, OPERATIONS.saveDefinition.permission), api.saveDefinition(req, ctx)),
    removeDefinition: (req, ctx) => (may(ctx, OPERATIONS.removeDefinition.permission), api.removeDefinition(req, ctx)),
    getDefinition: (req, ctx) => (may(ctx, OPERATIONS.getDefinition.permission), api.getDefinition(req, ctx)),
    listDefinitions: (req, ctx) => (may(ctx, OPERATIONS.listDefinitions.permission), api.listDefinitions(req, ctx)),

    async registerInstance(req, ctx) {
      const p = principal(ctx);
      const slug = ownedSlug(p, req.slug);
      assertMay(p, "instance:edit", slug);
      const request = slug === undefined ? req : { ...req, slug };
      if (p.kind === "member") {
        const address = resolveAddress(request);
        assertMayRegisterAt(p, address);
        // Taking over an instance (by id, or by its URL) is changing it: it must be one's own.
        await owners.instances.sync();
        if (request.id !== undefined && owners.instances.get(request.id) === undefined) assertMayChooseId(p, request.id, owners.derivedId(address.url));
        const holder = owners.instances.idOfUrl(address.url);
        for (const id of new Set([request.id, holder])) if (id !== undefined) onSyncedInstance(p, "instance:edit", id);
      }
      const reply = await api.registerInstance(request, ctx);
      return { ...reply, instance: instanceSeenBy(p, reply.instance) };
    },
    async removeInstance(req, ctx) {
      await onInstance(principal(ctx), "instance:delete", req.id);
      return api.removeInstance(req, ctx);
    },
    async reportStatus(req, ctx) {
      const p = principal(ctx);
      await onInstance(p, "instance:edit", req.id);
      assertMaySetStatusAs(p, req.by);
      const { instance } = await api.reportStatus(req, ctx);
      return { instance: instanceSeenBy(p, instance) };
    },
    async renewLease(req, ctx) {
      const p = principal(ctx);
      await onInstance(p, "instance:edit", req.id);
      const { instance } = await api.renewLease(req, ctx);
      return { instance: instanceSeenBy(p, instance) };
    },
    async recordCheck(req, ctx) {
      const p = principal(ctx);
      assertMay(p, "check:report");
      if (p.kind === "member" && p.role === "agent") {
        await owners.instances.sync();
        const instance = owners.instances.get(req.id);
        assertMayReportOn(p, req.id, instance ? { nodeUrl: instance.nodeUrl } : undefined);
      }
      return api.recordCheck({ ...req, checkedBy: checkReporter(p, ctx.caller, req.checkedBy) }, ctx);
    },
    async getInstance(req, ctx) {
      const p = principal(ctx);
      assertMay(p, "instance:view", p.kind === "member" && p.role === "service" ? p.slug : undefined);
      await viewInstance(p, req.id);
      const { instance } = await api.getInstance(req, ctx);
      return { instance: instanceSeenBy(p, instance) };
    },
    async listInstances(req, ctx) {
      const p = principal(ctx);
      const readable = readableSlugs(p);
      if (readable === "all") return (assertMay(p, "instance:view"), api.listInstances(req, ctx));
      if (req.slug !== undefined) assertMay(p, "instance:view", req.slug);
      else assertMay(p, "instance:view", p.kind === "member" ? p.slug : undefined);
      const page = await api.listInstances(req, { ...ctx, readableSlugs: readable });
      return { ...page, instances: page.instances.map((i) => instanceSeenBy(p, i)) };
    },

    async listServices(req, ctx) {
      const p = principal(ctx);
      const readable = readableSlugs(p);
      assertMay(p, "instance:view", readable === "all" || p.kind !== "member" ? undefined : p.slug);
      return api.listServices(req, readable === "all" ? ctx : { ...ctx, readableSlugs: readable });
    },

    getNode: (req, ctx) => (may(ctx, OPERATIONS.getNode.permission), api.getNode(req, ctx)),
    listNodes: (req, ctx) => (may(ctx, OPERATIONS.listNodes.permission), api.listNodes(req, ctx)),
    selfNode: (req, ctx) => (may(ctx, OPERATIONS.selfNode.permission), api.selfNode(req, ctx)),
    selectNodes: (req, ctx) => (may(ctx, OPERATIONS.selectNodes.permission), api.selectNodes(req, ctx)),
    removeNode: (req, ctx) => (may(ctx, OPERATIONS.removeNode.permission), api.removeNode(req, ctx)),

    healthStatus: (req, ctx) => (may(ctx, OPERATIONS.healthStatus.permission), api.healthStatus(req, ctx)),

    async history(req, ctx) {
      const p = principal(ctx);
      const readable = readableSlugs(p);
      if (req.id === undefined) assertMay(p, "audit:view");
      // An instance's history is decided event by event (below), not by who holds the id now: a
      // service reads its own past on an id an operator has since given to another.
      else if (req.entity === "instance") assertMay(p, "instance:view", p.kind === "member" && p.role === "service" ? p.slug : undefined);
      else assertMay(p, req.entity === "definition" ? "definition:view" : "node:view");
      if (readable === "all") return api.history(req, ctx);
      // An id can change hands (removed, then registered again by another service, or moved by an
      // operator): each event shows only to who may read the slug it was about when it was written.
      const page = await api.history(req, { ...ctx, readableSlugs: readable });
      if (req.entity === "instance" && req.id !== undefined && req.after === undefined && page.events.length === 0) throw instanceNotFound(req.id);
      const seen = page.events.map((e) => withoutHiddenSlugs(e, readable));
      return { ...page, events: seesCheckDetail(p) ? seen : seen.map(entryOutcomeOnly) };
    },
    switchProtection: (req, ctx) => (may(ctx, OPERATIONS.switchProtection.permission), api.switchProtection(req, ctx)),
    reloadPolicy: (req, ctx) => (may(ctx, OPERATIONS.reloadPolicy.permission), api.reloadPolicy(req, ctx)),
    accessSelf: (_req, ctx) => Promise.resolve(grantsOf(principal(ctx))),
  };
}
