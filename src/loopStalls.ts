/**
 * Stalls of this process's event loop: a long garbage collection, a CPU-starved host, a long
 * synchronous job. While the loop stands still, messages wait unread in the socket; when it moves
 * again, timers due meanwhile run first (Node's timers phase comes before the poll for I/O), so a
 * check that judges silence on what was heard judges a silence this process made. Such checks
 * leave the time the loop stood still out of the silence (`deafMsSince`): a stall delays a
 * verdict by its own length, and a process that stalls often still hears real silences.
 */
export type LoopStalls = {
  /** How long the loop stood still since `sinceMs` (epoch ms), the stall going on now included. */
  deafMsSince(sinceMs: number): number;
  stop(): void;
};

/** Stalls remembered: enough for the longest lease or silence judged, not a log without end. */
const REMEMBERED = 1000;
const REMEMBERED_MS = 24 * 3_600_000;

export function watchLoopStalls(opts: { beatMs: number; stallMs: number }): LoopStalls {
  let lastBeat = Date.now();
  /** Past stalls, oldest first: [from, to] epoch ms. */
  let stalls: [number, number][] = [];
  const timer = setInterval(() => {
    const now = Date.now();
    if (now - lastBeat > opts.stallMs) {
      stalls.push([lastBeat + opts.beatMs, now]); // it stood still from its due beat
      if (stalls.length > REMEMBERED || stalls[0]![1] < now - REMEMBERED_MS) stalls = stalls.slice(-REMEMBERED).filter(([, to]) => to >= now - REMEMBERED_MS);
    }
    lastBeat = now;
  }, opts.beatMs);
  timer.unref();
  return {
    deafMsSince(sinceMs) {
      const now = Date.now();
      let deaf = now - lastBeat > opts.stallMs ? now - Math.max(lastBeat + opts.beatMs, sinceMs) : 0; // the beat itself is overdue: a stall now
      for (let n = stalls.length - 1; n >= 0 && stalls[n]![1] > sinceMs; n--) deaf += stalls[n]![1] - Math.max(stalls[n]![0], sinceMs);
      return Math.max(0, deaf);
    },
    stop: () => clearInterval(timer),
  };
}
