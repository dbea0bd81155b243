/**
 * Lease renewals by publish: every registry process subscribes to every lease subject
 * (`<prefix>.lease.<slug>.<id>`, no payload needed) and folds each renewal into its leases'
 * memory; nothing is stored. While disconnected no lease lapses, and after a reconnect the
 * leases count as renewed then, since renewals published while NATS was away were lost.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { Caller } from "../contract/api.ts";
import { callerOfRequestInfo } from "../nats/requestInfo.ts";

export type RenewalCounts = { heard: number; unknown: number };

export type RenewalListener = { counts(): RenewalCounts; stop(): void };

export function listenForRenewals(deps: {
  nc: NatsConnection;
  names: Names;
  leases: { renewalHeard(key: string, caller?: () => Caller | undefined): boolean; listening(hears: boolean): void };
  log: Logger;
}): RenewalListener {
  const { nc, names, leases, log } = deps;
  const counts: RenewalCounts = { heard: 0, unknown: 0 };
  const sub: Subscription = nc.subscribe(names.leaseSubjects, {
    callback: (err, m) => {
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
    },
  });
  leases.listening(true);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") leases.listening(false);
      else if (s.type === "reconnect") leases.listening(true);
    }
  })();
  return {
    counts: () => ({ ...counts }),
    stop: () => sub.unsubscribe(),
  };
}
