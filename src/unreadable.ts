/**
 * What a process could not read from outside: KV entries, events read back from the
 * stream, heartbeats. Each is logged once (per key, sequence or subject), counted, and
 * skipped by its reader; the counts are in `registry.health.status` and `$SRV.STATS`.
 */
import type { Logger } from "pino";

export type UnreadableKind = "kvEntries" | "events" | "heartbeats" | "snapshots";
export type UnreadableCounts = Record<UnreadableKind, number>;

export type Unreadable = {
  /** Counts one unreadable value; logs it the first time `where` (a key, sequence or subject) is seen. */
  skip(kind: UnreadableKind, where: string, reason: string, context?: Record<string, unknown>): void;
  counts(): UnreadableCounts;
};

const MESSAGES: Record<UnreadableKind, string> = {
  kvEntries: "KV entry cannot be read; skipped",
  events: "event cannot be read; skipped",
  heartbeats: "heartbeat cannot be read; skipped",
  snapshots: "snapshot cannot be trusted; not used (the event stream answers instead)",
};

/** How many places are remembered as logged; past it the memory starts over (junk must not grow it without end). */
const REMEMBERED = 10_000;

export function unreadableCounter(log: Logger): Unreadable {
  const counts: UnreadableCounts = { kvEntries: 0, events: 0, heartbeats: 0, snapshots: 0 };
  let logged = new Set<string>();
  return {
    skip(kind, where, reason, context = {}) {
      counts[kind]++;
      const key = `${kind} ${where}`;
      if (logged.has(key)) return;
      if (logged.size >= REMEMBERED) logged = new Set();
      logged.add(key);
      log.warn({ ...context, where, reason, total: counts[kind] }, MESSAGES[kind]);
    },
    counts: () => ({ ...counts }),
  };
}
