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
