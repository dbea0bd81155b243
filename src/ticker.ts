/**
 * Runs `work` every `ms`, never two at once: a tick that comes while the last one is
 * still running is skipped. A failing tick is logged and the next one tries again.
 */
import type { Logger } from "pino";

export type Ticker = { stop: () => void; runNow: () => Promise<void> };

export function everyTick(ms: number, work: () => Promise<void>, log: Logger, what: string): Ticker {
  let running: Promise<void> | undefined;
  const runNow = () =>
    (running ??= work()
      .catch((err) => log.warn({ err }, `${what} failed; trying again next tick`))
      .finally(() => (running = undefined)));
  const timer = setInterval(() => void runNow(), ms);
  return { runNow, stop: () => clearInterval(timer) };
}

/**
 * Checks of one thing again at the moment it is due (a lease lapsing, a node's offline window
 * ending) between two ticks, so that a decision is not up to a tick late. One pending check per
 * key; a failing check is logged, and the next tick decides anyway.
 */
export function checksWhenDue(log: Logger, what: string) {
  const pending = new Map<string, NodeJS.Timeout>();
  return {
    at(dueMs: number, key: string, check: () => Promise<void>): void {
      if (pending.has(key)) return;
      const timer = setTimeout(() => {
        pending.delete(key);
        void check().catch((err) => log.warn({ err, key }, `${what} failed; the next tick decides`));
      }, Math.max(0, dueMs - Date.now()) + 1);
      pending.set(key, timer);
    },
    stop(): void {
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}
