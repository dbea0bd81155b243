/**
 * What the watchers of `GET /registry-svc/watch` may hold: how many may be connected, how many
 * bytes one may leave unread, and how many all of them together may. A watcher that does not
 * read fills its socket's buffer, in this process's memory; without these bounds a thousand of
 * them exhaust the heap. Counted for /metrics: connected, buffered, refused and cut off.
 */
export type WatchLimits = {
  /** REGISTRY_WATCHERS_MAX: watchers connected at once; one more is refused with 503. */
  maxWatchers: number;
  /** REGISTRY_WATCH_BUFFER_BYTES: what one watcher may leave unread before it is cut off. */
  bufferBytes: number;
  /** REGISTRY_WATCH_TOTAL_BYTES: what all watchers together may leave unread; past it, those behind are cut off. */
  totalBytes: number;
};

export type CutReason = "buffer" | "total";

export type WatcherCounts = { connected: number; bufferedBytes: number; refused: number; cut: Record<CutReason, number> };

/** One admitted watcher's account: told what it has unread after each write, it says whether to cut it off. */
export type WatcherAccount = {
  /** `unread`: the bytes its response holds unsent now. A reason to cut it off, or undefined. */
  buffered(unread: number): CutReason | undefined;
  /** It was cut off for this reason (counted). */
  cut(reason: CutReason): void;
  /** It is gone; its place and its bytes are free. Idempotent. */
  leave(): void;
};

export class WatcherBudget {
  #connected = 0;
  #buffered = 0;
  #refused = 0;
  readonly #cut: Record<CutReason, number> = { buffer: 0, total: 0 };

  constructor(readonly limits: WatchLimits) {}

  /** A place for one more watcher, or undefined (counted as refused) when all are taken. */
  admit(): WatcherAccount | undefined {
    if (this.#connected >= this.limits.maxWatchers) {
      this.#refused++;
      return undefined;
    }
    this.#connected++;
    let held = 0;
    let left = false;
    const hold = (bytes: number) => {
      this.#buffered += bytes - held;
      held = bytes;
    };
    return {
      buffered: (unread) => {
        if (left) return undefined;
        hold(unread);
        if (unread > this.limits.bufferBytes) return "buffer";
        // Over the total, whoever has anything unread is behind: it goes, the readers that keep up stay.
        if (this.#buffered > this.limits.totalBytes && unread > 0) return "total";
        return undefined;
      },
      cut: (reason) => void this.#cut[reason]++,
      leave: () => {
        if (left) return;
        left = true;
        hold(0);
        this.#connected--;
      },
    };
  }

  counts(): WatcherCounts {
    return { connected: this.#connected, bufferedBytes: this.#buffered, refused: this.#refused, cut: { ...this.#cut } };
  }
}
