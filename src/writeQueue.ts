/**
 * Writes that telemetry sets off (a node joining on a heartbeat, a lease recovering on a
 * renewal), at most `maxInFlight` at a time and `maxQueued` waiting: a fleet that starts at once
 * is written in turn instead of all at once, and past both a write is dropped (`false`), since
 * the next heartbeat or renewal sets it off again. A failed write is logged, never thrown.
 */
import type { Logger } from "pino";

export type WriteQueue = {
  /** Runs or queues `work`; false when dropped (then `dropped` has run). `dropped` also runs when `work` fails. */
  push(work: () => Promise<void>, dropped?: () => void): boolean;
  /** Writes running and waiting. */
  size(): number;
};

export function writeQueue(opts: { maxInFlight: number; maxQueued: number; log: Logger; what: string }): WriteQueue {
  const waiting: { work: () => Promise<void>; dropped?: (() => void) | undefined }[] = [];
  let inFlight = 0;

  function run(work: () => Promise<void>, dropped?: () => void): void {
    inFlight++;
    void work()
      .catch((err) => {
        dropped?.();
        opts.log.warn({ err }, `${opts.what} failed; the next one will try again`);
      })
      .finally(() => {
        inFlight--;
        const next = waiting.shift();
        if (next) run(next.work, next.dropped);
      });
  }

  return {
    push(work, dropped) {
      if (inFlight < opts.maxInFlight) run(work, dropped);
      else if (waiting.length < opts.maxQueued) waiting.push({ work, dropped });
      else {
        dropped?.();
        return false;
      }
      return true;
    },
    size: () => inFlight + waiting.length,
  };
}

/** Runs `write` for each item, at most `limit` at a time (a tick's decisions: one slow write does not hold up the rest). */
export async function eachAtMost<T>(items: readonly T[], limit: number, write: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await write(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
