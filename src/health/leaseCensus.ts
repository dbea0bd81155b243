/**
 * The lease census across registry processes. Each process hears the renewals of its own
 * slugs only, so the expiry protection's question (how many leases lapsed at once, fleet-wide)
 * is answered by adding up the shares: every lease tick each process publishes its own on an
 * internal subject and sums the latest share of each live member. A share older than
 * `staleAfterMs`, or from a process no longer live, is left out; a share that cannot be read
 * is counted and skipped.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import Type from "typebox";
import { reader } from "../contract/validate.ts";

const Count = Type.Integer({ minimum: 0 });
const ShareMessage = Type.Object({ member: Type.String({ minLength: 1, maxLength: 256 }), leases: Count, lapsedInWindow: Count, lapsedNow: Count });
const readShare = reader(ShareMessage);

/** One process's leases, those lapsed within the protection window, and those lapsed now. */
export type LeaseShare = { leases: number; lapsedInWindow: number; lapsedNow: number };

export type LeaseCensus = {
  /** Publishes this process's share for the others. */
  share(own: LeaseShare): void;
  /** This process's share plus the latest of every other live member. */
  fleet(own: LeaseShare): LeaseShare;
  stop(): void;
};

export function leaseCensus(deps: { nc: NatsConnection; subject: string; selfId: () => string; members: () => string[]; staleAfterMs: number; log: Logger }): LeaseCensus {
  const latest = new Map<string, { share: LeaseShare; at: number }>();
  let unreadable = 0;
  const sub = deps.nc.subscribe(deps.subject, {
    callback: (err, m) => {
      if (err) return deps.log.warn({ err }, "lease census subscription failed");
      let read;
      try {
        read = readShare(m.json());
      } catch {
        read = undefined;
      }
      if (!read?.ok) {
        if (unreadable++ % 1000 === 0) deps.log.warn({ subject: m.subject, unreadable }, "a lease census share that cannot be read: skipped");
        return;
      }
      const { member, ...share } = read.value;
      if (member !== deps.selfId()) latest.set(member, { share, at: Date.now() });
    },
  });
  return {
    share(own) {
      deps.nc.publish(deps.subject, JSON.stringify({ member: deps.selfId(), ...own }));
    },
    fleet(own) {
      const sum = { ...own };
      const live = new Set(deps.members());
      const since = Date.now() - deps.staleAfterMs;
      for (const [member, { share, at }] of latest) {
        if (!live.has(member) || at < since) {
          if (!live.has(member)) latest.delete(member);
          continue;
        }
        sum.leases += share.leases;
        sum.lapsedInWindow += share.lapsedInWindow;
        sum.lapsedNow += share.lapsedNow;
      }
      return sum;
    },
    stop: () => sub.unsubscribe(),
  };
}
