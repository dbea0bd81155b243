/**
 * Leases, for instances that register themselves with `ttlSeconds`. The leases of a slug are
 * kept by one live registry process (rendezvous over the members): it hears that slug's
 * renewals (`hear`: it subscribes to them, no other process does), folds them in memory, and
 * decides the slug's lapses. Nothing is stored for a renewal unless it brings the instance back
 * (an event) or the stored `lastHeartbeat` is `recordEveryMs` older (REGISTRY_LEASE_RECORD_MS:
 * a coarse record). Lapsed leases turn Unhealthy, and are deregistered after their grace period, unless
 * the expiry protection is engaged because too many lapsed at once, fleet-wide: the processes
 * add their shares up (`census`).
 *
 * Memory is lost on a restart, renewals are lost while NATS is away, and a slug taken over
 * was heard by another process until now, so a lease is never judged on less than a whole ttl
 * of hearing it: every lease counts as renewed at least when this process started or last
 * reconnected (`listeningSince`) and when it began hearing the slug (`hearingSince`), the time its
 * event loop stood still since is left out of a lease's silence (`deafMsSince`: renewals wait
 * unread meanwhile), and while it is disconnected none lapses.
 */
import type { Logger } from "pino";
import type { Caller, ExpiryProtection, RequestContext } from "../contract/api.ts";
import type { InstanceHealthCommands } from "./ports.ts";
import { instanceNotFound, RegistryError } from "../contract/errors.ts";
import { instanceKey, NO_SLUG_TOKEN } from "../contract/ids.ts";
import type { Instance } from "../contract/schemas.ts";
import type { InstanceReadModel } from "../contract/readModels.ts";
import { lapseChangesStatus, leaseLapsesAt, leaseVerdict, renewalRecovers } from "../domain/instanceHealth.ts";
import { checksWhenDue, everyTick } from "../ticker.ts";
import { eachAtMost, writeQueue } from "../writeQueue.ts";
import type { LeaseShare } from "./leaseCensus.ts";

/** Lapses written at once in a tick: many lapsing together (a rack lost) are decided within the tick. */
const DECISIONS_AT_ONCE = 32;
/** Coarse records written in a tick at most; the rest wait for the next ticks. */
const RECORDS_PER_TICK = 1_000;

export type ProtectionSettings = { share: number; windowMs: number };

export type Leases = {
  renewLease: (req: { id: string }, ctx: RequestContext) => Promise<{ instance: Instance }>;
  /** A renewal heard on `key`'s lease subject (`<slug>.<id>`); false when no leased instance has that key. */
  renewalHeard: (key: string, caller?: () => Caller | undefined) => boolean;
  /**
   * Whether this process hears renewals: from a start or a reconnect every lease counts as renewed
   * then; while disconnected none lapses (renewals do not reach it, and a decision taken now
   * would be written once NATS is back).
   */
  listening: (hears: boolean) => void;
  /** The expiry protection, and the fleet's leases (every process's share added up). */
  healthStatus: () => Promise<{ protection: ExpiryProtection; leases: { total: number; lapsed: number } }>;
  /** The expiry protection as last seen, for $SRV.STATS. */
  lastProtection: () => ExpiryProtection | undefined;
  stop: () => void;
};

/** An entry's stored renewal (epoch ms), parsed once per entry: the lease check reads every lease every tick. */
const parsed = new WeakMap<Instance, number>();
function storedRenewalMs(i: Instance): number {
  let ms = parsed.get(i);
  if (ms === undefined) parsed.set(i, (ms = Date.parse(i.lastHeartbeat ?? i.createdAt)));
  return ms;
}

/** The slug token of an instance's lease subject. */
const slugOf = (i: Instance) => i.slug ?? NO_SLUG_TOKEN;

/**
 * The leases this process keeps (`mine`), those lapsed, and those lapsed within the window;
 * `each` sees each of them on the way (one pass a tick).
 */
function census(instances: Iterable<Instance>, mine: (i: Instance) => boolean, lastRenewal: (i: Instance) => number, nowMs: number, windowMs: number, each?: (i: Instance, lapsesAt: number) => void) {
  let leases = 0;
  const lapsed: Instance[] = [];
  let lapsedInWindow = 0;
  for (const i of instances) {
    if (i.ttlSeconds === undefined || !mine(i)) continue;
    leases++;
    const lapsesAt = leaseLapsesAt(i, lastRenewal(i));
    each?.(i, lapsesAt);
    if (lapsesAt > nowMs) continue;
    lapsed.push(i);
    if (lapsesAt > nowMs - windowMs) lapsedInWindow++;
  }
  return { leases, lapsed, lapsedInWindow };
}

export function leases(deps: {
  instances: Pick<InstanceReadModel, "get" | "leased" | "sync">;
  commands: InstanceHealthCommands;
  /** Moves an instance's lastHeartbeat in its KV entry (no event): the coarse record. */
  touch(instance: Instance, at: string): Promise<unknown>;
  /** Publishes a renewal on the instance's lease subject, for the process that keeps it to fold. */
  publishRenewal(instance: Instance): void;
  /** Whether this registry process keeps the leases of this slug (one live process per slug). */
  keepsSlug(slugToken: string): boolean;
  /** The slugs whose renewals this process is to hear, every tick: it hears those and no others. */
  hear(slugs: ReadonlySet<string>): void;
  /** The other processes' shares of the lease census. */
  census: { share(own: LeaseShare): void; fleet(own: LeaseShare): LeaseShare };
  protection: ProtectionSettings;
  /** REGISTRY_LEASE_RECORD_MS: the period of a renewing instance's coarse record. */
  recordEveryMs: number;
  tickMs: number;
  log: Logger;
  /** How long this process's event loop stood still since a time (epoch ms): renewals sent meanwhile were not read. */
  deafMsSince?: (sinceMs: number) => number;
  /** The time decisions are taken at (tests give their own). */
  clock?: () => Date;
}): Leases {
  const { instances, commands, log } = deps;
  const now = () => deps.clock?.() ?? new Date();
  let protection: ExpiryProtection | undefined;
  /** When this process last heard each instance renew (ms). */
  const heard = new Map<string, number>();
  let listeningSince = now().getTime();
  /** When this process began hearing each slug it keeps (ms): a slug taken over was another's until then. */
  const hearingSince = new Map<string, number>();
  /** Recoveries this process is writing or has queued: a burst of renewals writes one. */
  const recovering = new Set<string>();
  /** A fleet registered at once recovers in turn (its first renewals), not all at once. */
  const recoveries = writeQueue({ maxInFlight: 64, maxQueued: 1_000_000, log, what: "lease recovery" });

  /** The renewal a lease is judged by (epoch ms): the latest of the stored one, the one heard, and when this process began listening. */
  const lastRenewalMs = (i: Instance): number => {
    const last = Math.max(storedRenewalMs(i), heard.get(i.id) ?? 0, listeningSince, hearingSince.get(slugOf(i)) ?? 0);
    return Number.isFinite(last) ? last + (deps.deafMsSince?.(last) ?? 0) : last;
  };
  const keeps = (i: Instance) => deps.keepsSlug(slugOf(i));
  const lastRenewal = (i: Instance): string => new Date(lastRenewalMs(i)).toISOString();

  async function recover(id: string, caller: Caller | undefined): Promise<Instance | null> {
    recovering.add(id);
    try {
      return (await commands.recoverLease(id, caller)).instance;
    } finally {
      recovering.delete(id);
    }
  }

  /** Whether the keeper is to store the last renewal heard: the stored lastHeartbeat is `recordEveryMs` older. */
  function recordDue(i: Instance): boolean {
    const at = heard.get(i.id);
    return at !== undefined && at - storedRenewalMs(i) >= deps.recordEveryMs;
  }

  async function tick(): Promise<void> {
    const nowMs = now().getTime();
    const due: Instance[] = [];
    const lapsingBeforeNextTick: { id: string; at: number }[] = [];
    const hearing = new Set<string>();
    // A slug first kept now is heard from now: its leases count as renewed then, before they are judged below.
    const mine = (i: Instance) => {
      if (!keeps(i)) return false;
      const slug = slugOf(i);
      if (!hearing.has(slug)) {
        hearing.add(slug);
        if (!hearingSince.has(slug)) hearingSince.set(slug, nowMs);
      }
      return true;
    };
    const { leases: total, lapsed, lapsedInWindow } = census(instances.leased(), mine, lastRenewalMs, nowMs, deps.protection.windowMs, (i, at) => {
      if (recordDue(i)) due.push(i);
      if (at > nowMs && at <= nowMs + deps.tickMs) lapsingBeforeNextTick.push({ id: i.id, at });
    });
    for (const slug of hearingSince.keys()) if (!hearing.has(slug)) hearingSince.delete(slug); // handed on, or no lease left
    deps.hear(hearing);
    if (heard.size > total) {
      // Removed since, or renewed here by request while another process keeps the slug.
      for (const id of heard.keys()) {
        const i = instances.get(id);
        if (!i || !hearing.has(slugOf(i))) heard.delete(id);
      }
    }
    // A bounded share a tick: after a restart every lease is due at once, and lapses must not wait behind the records.
    await eachAtMost(due.slice(0, RECORDS_PER_TICK), 16, (i) =>
      deps.touch(i, new Date(heard.get(i.id)!).toISOString()).then(
        () => undefined,
        (err) => log.warn({ err, instance: i.id }, "lease renewal not recorded; trying again next tick"),
      ),
    );
    const own = { leases: total, lapsedInWindow, lapsedNow: lapsed.length };
    deps.census.share(own);
    if (deps.protection.share > 0) {
      const evaluated = await commands.evaluateProtection(deps.census.fleet(own), deps.protection.share, deps.protection.windowMs);
      if (evaluated.written) log.warn({ protection: evaluated.protection }, evaluated.protection.engaged ? "expiry protection engaged" : "expiry protection released");
      protection = evaluated.protection;
      if (protection.engaged) return;
    }
    for (const { id, at } of lapsingBeforeNextTick) whenDue.at(at, id, () => lapseIfDue(id));
    // Already Unhealthy, or its node offline, and not past its grace: waiting it out.
    const decided = lapsed.filter((i) => lapseChangesStatus(i) || leaseVerdict(i, lastRenewal(i), nowMs) === "expired");
    await eachAtMost(decided, DECISIONS_AT_ONCE, async (i) => {
      const graceOver = leaseVerdict(i, lastRenewal(i), nowMs) === "expired";
      const { written } = await commands.checkLease(i.id, lastRenewal(i));
      if (written) log.info({ instance: i.id, slug: i.slug, expired: graceOver }, graceOver ? "lease expired: deregistered" : "lease lapsed: Unhealthy");
    });
  }

  /** A lease that lapses between two ticks is turned Unhealthy when it does, unless renewed meanwhile. */
  async function lapseIfDue(id: string): Promise<void> {
    const i = instances.get(id);
    if (!i || protection?.engaged || !keeps(i) || !lapseChangesStatus(i) || !Number.isFinite(lastRenewalMs(i)) || leaseVerdict(i, lastRenewal(i), now().getTime()) === "live") return; // not while disconnected
    const { written } = await commands.checkLease(id, lastRenewal(i));
    if (written) log.info({ instance: id, slug: i.slug, expired: false }, "lease lapsed: Unhealthy");
  }
  const whenDue = checksWhenDue(log, "lease check");

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
      const at = now();
      heard.set(id, at.getTime());
      if (renewalRecovers(instance)) {
        const recovered = await recover(id, ctx.caller);
        if (!recovered) throw instanceNotFound(id);
        instance = recovered;
      }
      deps.publishRenewal(instance);
      return { instance: { ...instance, lastHeartbeat: at.toISOString() } };
    },

    renewalHeard(key, caller) {
      const id = key.slice(key.indexOf(".") + 1);
      const instance = instances.get(id);
      // The subject's slug must be the instance's own: it is what subject permissions grant.
      if (!instance || instance.ttlSeconds === undefined || instanceKey(instance.slug, instance.id) !== key) return false;
      heard.set(id, Math.max(heard.get(id) ?? 0, now().getTime()));
      if (renewalRecovers(instance) && !recovering.has(id) && keeps(instance)) {
        recovering.add(id);
        recoveries.push(() => recover(id, caller?.()).then(() => undefined), () => recovering.delete(id));
      }
      return true;
    },

    listening(hears) {
      listeningSince = hears ? now().getTime() : Number.POSITIVE_INFINITY;
    },

    async healthStatus() {
      const current = await commands.protectionState();
      const { leases: total, lapsed, lapsedInWindow } = census(instances.leased(), keeps, lastRenewalMs, now().getTime(), deps.protection.windowMs);
      const fleet = deps.census.fleet({ leases: total, lapsedInWindow, lapsedNow: lapsed.length });
      return { protection: deps.protection.share > 0 ? current : { ...current, enabled: false }, leases: { total: fleet.leases, lapsed: fleet.lapsedNow } };
    },

    lastProtection: () => protection,

    stop() {
      ticker.stop();
      whenDue.stop();
    },
  };
}
