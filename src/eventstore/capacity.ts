/**
 * The event stream's size against REGISTRY_EVENTS_MAX_BYTES, in two tiers:
 *
 * - the server enforces the hard cap: the stream's `max_bytes` is the limit plus
 *   REGISTRY_EVENTS_RESERVE_BYTES with `discard: new` (eventsStreamConfig), so nothing old is
 *   ever dropped for room, and every process meets the same refusal at the same size;
 * - callers' writes are refused at the limit itself. Far below it the size is polled (every
 *   `tickMs`, plus what this process appended since); near it, every caller's append is
 *   checked against the server's own count first (one request shared by the appends that ask
 *   while it is under way), so registry processes agree on when the limit is reached.
 *
 * The reserve between the two is for the registry's own loops (a node going Offline, a lease
 * lapsing, ...), which write past the limit, so liveness keeps working when callers cannot.
 * A warning is logged from 80% on.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { everyTick } from "../ticker.ts";

export type StreamUsage = { bytes: number; maxBytes: number; reserveBytes: number; messages: number };
export type Capacity = {
  /** Whether a caller's write may be appended now: false at REGISTRY_EVENTS_MAX_BYTES. */
  admitsCaller(): Promise<boolean>;
  /** This process appended about `bytes` (counted until the next check of the server's size). */
  appended(bytes: number): void;
  usage(): StreamUsage;
  refresh(): Promise<void>;
  stop(): void;
};

const WARN_SHARE = 0.8;
/** Within this share of the limit (or of the reserve, when larger) every caller's append asks the server first. */
const NEAR_SHARE = 0.1;

/** The stream's hard cap: the callers' limit plus the reserve the registry's own loops write into. */
export const hardCapBytes = (maxBytes: number, reserveBytes: number) => maxBytes + reserveBytes;

export function streamCapacity(deps: { jsm: JetStreamManager; stream: string; maxBytes: number; reserveBytes: number; tickMs: number; log: Logger }): Capacity {
  const { jsm, stream, maxBytes, reserveBytes, log } = deps;
  let usage: StreamUsage = { bytes: 0, maxBytes, reserveBytes, messages: 0 };
  let appendedSince = 0;
  let reading: Promise<void> | undefined;
  let warned = false;
  const nearFrom = maxBytes - Math.max(maxBytes * NEAR_SHARE, reserveBytes);

  async function read(): Promise<void> {
    const { state } = await jsm.streams.info(stream);
    usage = { bytes: state.bytes, maxBytes, reserveBytes, messages: state.messages };
    appendedSince = 0;
    const high = state.bytes >= WARN_SHARE * maxBytes;
    if (high && !warned) {
      const full = state.bytes >= maxBytes;
      log.warn({ stream, ...usage }, full ? "event stream full: callers' writes are refused (the registry's own liveness writes go on into the reserve); raise REGISTRY_EVENTS_MAX_BYTES" : "event stream past 80% of REGISTRY_EVENTS_MAX_BYTES");
    }
    warned = high;
  }

  /** The server's size: one read, shared by the appends that ask while it is under way. */
  function fresh(): Promise<void> {
    reading ??= read().finally(() => (reading = undefined));
    return reading;
  }

  const ticker = everyTick(deps.tickMs, read, log, "event stream size check");
  return {
    async admitsCaller() {
      if (usage.bytes + appendedSince < nearFrom) return true;
      await fresh().catch(() => undefined); // the server not answering: the append meets that itself
      // The server's own figure alone, which every process reads alike, so they refuse at the same size.
      return usage.bytes < maxBytes;
    },
    appended(bytes) {
      appendedSince += bytes;
    },
    usage: () => usage,
    refresh: ticker.runNow,
    stop: ticker.stop,
  };
}
