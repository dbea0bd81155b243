/**
 * Which registry processes are alive, from the micro protocol's `$SRV.PING`, so that
 * the instances without a node agent are split between them: each instance is checked by
 * the live process that wins rendezvous hashing on its id. While processes come and go an
 * instance may briefly be checked twice or not at all; its status transitions are still
 * written once, because decisions are conditional on the instance's version.
 *
 * Only processes that hold every slug take a share (their service metadata says `slugs: *`;
 * one of an earlier version, without it, does too): a process started with REGISTRY_SLUGS
 * does not see the other slugs' instances, so it keeps no leases, checks nothing and owns no node.
 */
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import type { Logger } from "pino";
import { everyTick } from "../ticker.ts";
import { HOLDS_EVERY_SLUG } from "../domain/slugScope.ts";

export type Membership = { owns(key: string): boolean; members(): string[]; refresh(): Promise<void>; stop(): void };

/** owns() answers kept at most: a few million keys (nodes, slugs, instance ids) fit; ids that come and go do not grow it without end. */
const MAX_CACHED_ANSWERS = 4_000_000;

const score = (member: string, key: string) => createHash("sha1").update(`${member}\u0000${key}`).digest().readUInt32BE(0);

export function membership(deps: { nc: NatsConnection; service: string; selfId: () => string; intervalMs: number; log: Logger; holdsEverySlug: boolean }): Membership {
  let live: string[] = [];
  /** Answers of owns() for the live members and self they were computed for (heartbeats and leases ask many times a second). */
  const owned = new Map<string, boolean>();
  const cachedFor: { self?: string; live?: string[] } = {};
  const client = new Svcm(deps.nc).client({ strategy: "timer", maxWait: Math.min(1000, deps.intervalMs / 2) });

  async function refresh(): Promise<void> {
    try {
      const found = new Set<string>();
      for await (const p of await client.ping(deps.service)) if ((p.metadata?.slugs ?? HOLDS_EVERY_SLUG) === HOLDS_EVERY_SLUG) found.add(p.id);
      const next = [...found].sort();
      if (next.join() !== live.join()) live = next; // a new array only when they changed: it resets owns()' answers
    } catch (err) {
      deps.log.debug({ err }, "registry membership ping failed; keeping the last list");
    }
  }

  const ticker = everyTick(deps.intervalMs, refresh, deps.log, "registry membership refresh");
  return {
    owns(key) {
      if (!deps.holdsEverySlug) return false;
      const self = deps.selfId();
      // Cleared when the members change, and when it has grown past any fleet (keys of ids long removed).
      if (self !== cachedFor.self || live !== cachedFor.live || owned.size > MAX_CACHED_ANSWERS) {
        owned.clear();
        Object.assign(cachedFor, { self, live });
      }
      let mine = owned.get(key);
      if (mine === undefined) {
        const candidates = live.includes(self) ? live : [...live, self];
        let best = self;
        let bestScore = -1;
        for (const m of candidates) {
          const s = score(m, key);
          if (s > bestScore || (s === bestScore && m < best)) [best, bestScore] = [m, s];
        }
        owned.set(key, (mine = best === self));
      }
      return mine;
    },
    members: () => live,
    refresh,
    stop: ticker.stop,
  };
}
