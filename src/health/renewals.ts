/**
 * Lease renewals by publish (`<prefix>.lease.<slug>.<id>`, no payload needed). Each registry
 * process subscribes only to the slugs whose leases it keeps (`hear`, from the lease tick:
 * rendezvous over the live processes), so the processes share the renewals instead of each
 * hearing all of them, and folds each renewal into its leases' memory; nothing is stored.
 * While disconnected no lease lapses, and after a reconnect the leases count as renewed then,
 * since renewals published while NATS was away were lost.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { Caller } from "../contract/api.ts";
import { callerOfRequestInfo } from "../nats/requestInfo.ts";

export type RenewalCounts = { heard: number; unknown: number };

export type RenewalListener = {
  /** Subscribes to these slugs' lease subjects, and to no others. */
  hear(slugs: ReadonlySet<string>): void;
  /** The slugs whose renewals this process hears. */
  slugsHeard(): number;
  counts(): RenewalCounts;
  stop(): void;
};

export function listenForRenewals(deps: {
  nc: NatsConnection;
  names: Names;
  leases: { renewalHeard(key: string, caller?: () => Caller | undefined): boolean; listening(hears: boolean): void };
  log: Logger;
}): RenewalListener {
  const { nc, names, leases, log } = deps;
  const counts: RenewalCounts = { heard: 0, unknown: 0 };
  const subs = new Map<string, Subscription>();
  let stopped = false;
  const callback = (err: Error | null, m: Msg) => {
    if (err) return log.warn({ err }, "lease renewals subscription failed");
    const key = names.leaseSubjectKey(m.subject);
    // Read only for the rare renewal that writes an event (a recovery): not on every renewal.
    const caller = () => {
      const named = callerOfRequestInfo(m.headers?.get("Nats-Request-Info"));
      return named === "unreadable" ? undefined : named;
    };
    // A renewal that names no leased instance (removed, not projected here yet, or made up) renews nothing.
    if (key !== undefined && leases.renewalHeard(key, caller)) counts.heard++;
    else counts.unknown++;
  };
  leases.listening(true);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") leases.listening(false);
      else if (s.type === "reconnect") leases.listening(true);
    }
  })();
  return {
    hear(slugs) {
      if (stopped) return; // a lease tick still running as the process stops
      for (const [slug, sub] of subs) {
        if (slugs.has(slug)) continue;
        sub.unsubscribe();
        subs.delete(slug);
      }
      for (const slug of slugs) if (!subs.has(slug)) subs.set(slug, nc.subscribe(names.leaseSubjectsOf(slug), { callback }));
    },
    slugsHeard: () => subs.size,
    counts: () => ({ ...counts }),
    stop() {
      stopped = true;
      for (const sub of subs.values()) sub.unsubscribe();
      subs.clear();
    },
  };
}
