/**
 * The one way events are read back from the event stream: each message decoded and checked
 * (storedEvents.ts), and one that cannot be read logged, counted as unreadable and skipped, by
 * every reader alike (history, time travel, rebuild, the projector, the event store, the live feed).
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { readSubjects } from "../nats/readSubjects.ts";
import type { Unreadable } from "../unreadable.ts";
import { readEvent, type EventEnvelope } from "./storedEvents.ts";

/** A message of the event stream, as any consumer gets it. */
export type StoredMessage = { data: Uint8Array; subject: string; seq: number };

/** The event a stored message holds; undefined when it cannot be read (then logged and counted). */
export function eventOf(m: StoredMessage, stream: string, unreadable: Unreadable): EventEnvelope | undefined {
  const read = readEvent(m.data, m.subject);
  if (read.ok) return read.value;
  unreadable.skip("events", String(m.seq), read.reason, { stream, subject: m.subject, seq: m.seq });
  return undefined;
}

/** An event as read back, with where it is stored; `event` null: it could not be read (only with `unreadableToo`). */
export type ReadBack<E = EventEnvelope> = { event: E; seq: number; subject: string };

type ReadOptions = {
  /** Stops the read (the iteration ends), even while a message is awaited. */
  signal?: AbortSignal;
  /** Messages asked of the server at once, for a long pass (readSubjects). */
  batch?: number;
  /** The filter matched in this process, not by the server (readSubjects). */
  filterHere?: boolean;
};

/**
 * The events of the stream's subjects `filter` to its end, in stream order (every one from a
 * sequence or a time on, or the latest of each subject). Unreadable ones are counted and skipped;
 * with `unreadableToo` they are yielded too, with `event: null`, for a reader that looks further back.
 */
export function readEvents(
  deps: { js: JetStreamClient; stream: string; unreadable: Unreadable },
  filter: string,
  deliver: Parameters<typeof readSubjects>[3],
  opts?: ReadOptions & { unreadableToo?: false },
): AsyncGenerator<ReadBack>;
export function readEvents(
  deps: { js: JetStreamClient; stream: string; unreadable: Unreadable },
  filter: string,
  deliver: Parameters<typeof readSubjects>[3],
  opts: ReadOptions & { unreadableToo: true },
): AsyncGenerator<ReadBack<EventEnvelope | null>>;
export async function* readEvents(
  deps: { js: JetStreamClient; stream: string; unreadable: Unreadable },
  filter: string,
  deliver: Parameters<typeof readSubjects>[3],
  opts: ReadOptions & { unreadableToo?: boolean } = {},
): AsyncGenerator<ReadBack<EventEnvelope | null>> {
  for await (const m of readSubjects(deps.js, deps.stream, filter, deliver, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.batch ? { batch: opts.batch } : {}), ...(opts.filterHere ? { filterHere: true } : {}) })) {
    const event = eventOf(m, deps.stream, deps.unreadable) ?? null;
    if (event !== null || opts.unreadableToo) yield { event, seq: m.seq, subject: m.subject };
  }
}
