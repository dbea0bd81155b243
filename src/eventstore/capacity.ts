/**
 * Watches the event stream's size against REGISTRY_EVENTS_MAX_BYTES. The stream itself has
 * no byte limit (its store would make room by dropping the oldest events, which may be the
 * only event of an entity), so the registry enforces it: past the limit every append is
 * refused with a 503 that says what to do, and a warning is logged from 80% on.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { everyTick } from "../ticker.ts";

export type StreamUsage = { bytes: number; maxBytes: number; messages: number };
export type Capacity = { full(): boolean; usage(): StreamUsage; refresh(): Promise<void>; stop(): void };

const WARN_SHARE = 0.8;

export function streamCapacity(deps: { jsm: JetStreamManager; stream: string; maxBytes: number; tickMs: number; log: Logger }): Capacity {
  const { jsm, stream, maxBytes, log } = deps;
  let usage: StreamUsage = { bytes: 0, maxBytes, messages: 0 };
  let warned = false;

  async function refresh(): Promise<void> {
    const { state } = await jsm.streams.info(stream);
    usage = { bytes: state.bytes, maxBytes, messages: state.messages };
    const high = state.bytes >= WARN_SHARE * maxBytes;
    if (high && !warned) {
      log.warn({ stream, ...usage }, state.bytes >= maxBytes ? "event stream full: writes are refused; raise REGISTRY_EVENTS_MAX_BYTES" : "event stream past 80% of REGISTRY_EVENTS_MAX_BYTES");
    }
    warned = high;
  }

  const ticker = everyTick(deps.tickMs, refresh, log, "event stream size check");
  return { full: () => usage.bytes >= maxBytes, usage: () => usage, refresh: ticker.runNow, stop: ticker.stop };
}
