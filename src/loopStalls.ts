/**
 * Stalls of this process's event loop: a long garbage collection, a CPU-starved host, a long
 * synchronous job. While the loop stands still, messages wait unread in the socket; when it moves
 * again, timers due meanwhile run first (Node's timers phase comes before the poll for I/O), so a
 * check that judges silence on what was heard judges a silence this process made. Such checks
 * count what they wait for as heard at `deafUntil()` at least.
 */
export type LoopStalls = {
  /** The end of this process's last stall (epoch ms; 0: none), or now while the loop is late now. */
  deafUntil(): number;
  stop(): void;
};

export function watchLoopStalls(opts: { beatMs: number; stallMs: number }): LoopStalls {
  let lastBeat = Date.now();
  let lastStallEnd = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    if (now - lastBeat > opts.stallMs) lastStallEnd = now;
    lastBeat = now;
  }, opts.beatMs);
  timer.unref();
  return {
    deafUntil() {
      const now = Date.now();
      // The beat itself is overdue: a check running first after a stall sees it here.
      return now - lastBeat > opts.stallMs ? now : lastStallEnd;
    },
    stop: () => clearInterval(timer),
  };
}
