/**
 * Leases, for instances that register themselves with `ttlSeconds`. A renewal is
 * telemetry: it moves the instance's `lastHeartbeat` in its KV entry and writes an event
 * only when it brings the instance back. The lease monitor, in every registry process,
 * turns instances whose lease lapsed Unhealthy and deregisters them after their grace
 * period, unless the expiry protection is engaged because too many lapsed at once.
 */
import type { Logger } from "pino";
import type { ExpiryProtection, RequestContext } from "../contract/api.ts";
import type { InstanceHealthCommands } from "./ports.ts";
import { instanceNotFound, RegistryError } from "../contract/errors.ts";
import type { Instance } from "../contract/schemas.ts";
import type { InstanceReadModel } from "../contract/readModels.ts";
import { lapseChangesStatus, leaseLapsesAt, leaseVerdict, renewalRecovers } from "../domain/instanceHealth.ts";
import { everyTick } from "../ticker.ts";


export type ProtectionSettings = { share: number; windowMs: number };

export type Leases = {
  renewLease: (req: { id: string }, ctx: RequestContext) => Promise<{ instance: Instance }>;
  healthStatus: () => Promise<{ protection: ExpiryProtection; leases: { total: number; lapsed: number } }>;
  /** The expiry protection as last seen, for $SRV.STATS. */
  lastProtection: () => ExpiryProtection | undefined;
  stop: () => void;
};

const lastRenewal = (i: Instance) => i.lastHeartbeat ?? i.createdAt;

function census(instances: Iterable<Instance>, nowMs: number, windowMs: number) {
  let leases = 0;
  const lapsed: Instance[] = [];
  let lapsedInWindow = 0;
  for (const i of instances) {
    if (i.ttlSeconds === undefined) continue;
    leases++;
    const lapsesAt = leaseLapsesAt(i, lastRenewal(i));
    if (lapsesAt > nowMs) continue;
    lapsed.push(i);
    if (lapsesAt > nowMs - windowMs) lapsedInWindow++;
  }
  return { leases, lapsed, lapsedInWindow };
}

export function leases(deps: {
  instances: Pick<InstanceReadModel, "get" | "leased" | "sync">;
  commands: InstanceHealthCommands;
  /** Moves an instance's lastHeartbeat in its KV entry (no event). */
  touch(instance: Instance, at: string): Promise<unknown>;
  /** Whether this registry process handles this instance's lease (one process per instance). */
  owns(id: string): boolean;
  protection: ProtectionSettings;
  tickMs: number;
  log: Logger;
  /** The time decisions are taken at (tests give their own). */
  clock?: () => Date;
}): Leases {
  const { instances, commands, log } = deps;
  const now = () => deps.clock?.() ?? new Date();
  let protection: ExpiryProtection | undefined;

  async function tick(): Promise<void> {
    const nowMs = now().getTime();
    const { leases: total, lapsed, lapsedInWindow } = census(instances.leased(), nowMs, deps.protection.windowMs);
    if (deps.protection.share > 0) {
      const evaluated = await commands.evaluateProtection({ leases: total, lapsedInWindow, lapsedNow: lapsed.length }, deps.protection.share, deps.protection.windowMs);
      if (evaluated.written) log.warn({ protection: evaluated.protection }, evaluated.protection.engaged ? "expiry protection engaged" : "expiry protection released");
      protection = evaluated.protection;
      if (protection.engaged) return;
    }
    for (const i of lapsed) {
      if (!deps.owns(i.id)) continue;
      const graceOver = leaseVerdict(i, lastRenewal(i), nowMs) === "expired";
      if (!graceOver && !lapseChangesStatus(i)) continue; // already Unhealthy, or its node offline: waiting out the grace
      const { written } = await commands.checkLease(i.id, lastRenewal(i));
      if (written) log.info({ instance: i.id, slug: i.slug, expired: graceOver }, graceOver ? "lease expired: deregistered" : "lease lapsed: Unhealthy");
    }
  }

  const ticker = everyTick(deps.tickMs, tick, log, "lease check");

  return {
    async renewLease({ id }, ctx) {
      let instance = instances.get(id);
      if (!instance) {
        await instances.sync();
        instance = instances.get(id);
      }
      if (!instance) throw instanceNotFound(id);
      if (instance.ttlSeconds === undefined) {
        throw new RegistryError(400, `instance "${id}" has no lease to renew; register it with ttlSeconds to give it one`);
      }
      const at = now().toISOString();
      if (renewalRecovers(instance)) {
        const recovered = await commands.recoverLease(id, ctx.caller);
        if (!recovered.instance) throw instanceNotFound(id);
        instance = recovered.instance;
      }
      await deps.touch(instance, at);
      return { instance: { ...instance, lastHeartbeat: at } };
    },

    async healthStatus() {
      const current = await commands.protectionState();
      const { leases: total, lapsed } = census(instances.leased(), now().getTime(), deps.protection.windowMs);
      return { protection: deps.protection.share > 0 ? current : { ...current, enabled: false }, leases: { total, lapsed: lapsed.length } };
    },

    lastProtection: () => protection,

    stop: ticker.stop,
  };
}
