/**
 * History: the events of one entity, oldest first, or every event from a time on (the audit
 * log), read back from the event stream a page at a time, each shown with what happened,
 * when, why and by whom. An event this version cannot read is skipped and counted.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Names } from "../contract/names.ts";
import { timeOf } from "../contract/pastTimes.ts";
import { instanceSlugOf } from "../domain/events.ts";
import type { HistoryEntry, HistoryRequest } from "../contract/schemas.ts";
import type { Unreadable } from "../unreadable.ts";
import type { EventEnvelope } from "./storedEvents.ts";
import { readEvents } from "./readEvents.ts";

export const DEFAULT_HISTORY_PAGE = 100;

/** Each changed field, from its value before to its value after (absent: none). */
function changesOf(changed: readonly string[], was: Readonly<Record<string, unknown>>, now: Readonly<Record<string, unknown>>): NonNullable<HistoryEntry["changes"]> {
  return changed.map((field) => ({ field, ...(was[field] !== undefined ? { from: was[field] } : {}), ...(now[field] !== undefined ? { to: now[field] } : {}) }));
}

/** What history (and the live feed) shows of an event: its kind, time and caller, and the fields that say what changed. */
export function historyEntryOf(e: EventEnvelope, seq: number, subject: string, names: Names): HistoryEntry {
  const { entity = "", id = "" } = names.eventSubjectParts(subject) ?? {};
  const data = e.data as { cause?: string; from?: string; to?: string; changed?: string[]; reason?: string };
  const slug = instanceSlugOf(e)?.slug;
  const changes = e.type === "InstanceUpdated" && e.data.was ? changesOf(e.data.changed, e.data.was, e.data.instance) : undefined;
  return {
    seq,
    type: e.type,
    at: e.metadata.at,
    entity,
    id,
    ...(slug !== undefined ? { slug } : {}),
    ...(e.metadata.by ? { by: e.metadata.by } : {}),
    ...(e.metadata.via ? { via: e.metadata.via } : {}),
    ...(e.metadata.requestId ? { requestId: e.metadata.requestId } : {}),
    ...(data.cause !== undefined ? { cause: data.cause } : {}),
    ...(data.from !== undefined ? { from: data.from } : {}),
    ...(data.to !== undefined ? { to: data.to } : {}),
    ...(data.changed !== undefined ? { changed: data.changed } : {}),
    ...(changes ? { changes } : {}),
    ...(data.reason !== undefined ? { reason: data.reason } : {}),
  };
}

/** Whether a reader of the instances of `readable` slugs only (undefined: of every one) may see `e`. */
function readableBy(e: EventEnvelope, readable: ReadonlySet<string> | undefined): boolean {
  const about = readable === undefined ? undefined : instanceSlugOf(e);
  return about === undefined || (about.slug !== undefined && readable!.has(about.slug));
}

/** `readable`: a caller who may read the instances of these slugs only sees the instance events of those, each by its slug when written. */
export async function readHistory(
  deps: { js: JetStreamClient; names: Names; unreadable: Unreadable },
  req: HistoryRequest & { entity?: "definition" | "instance" | "node" },
  readable?: ReadonlySet<string>,
): Promise<{ events: HistoryEntry[]; next?: number }> {
  const { js, names } = deps;
  const limit = req.limit ?? DEFAULT_HISTORY_PAGE;
  const filter = req.id !== undefined && req.entity !== undefined ? names.eventSubject(req.entity, req.id) : names.eventSubjects;
  const start = req.after !== undefined ? { startSeq: req.after + 1 } : req.since !== undefined ? { startTime: timeOf(req.since) } : ("all" as const);
  const until = req.until !== undefined ? Date.parse(timeOf(req.until)) : Infinity;
  const events: HistoryEntry[] = [];
  // Every event: the consumer needs no filter, and without one it starts at once (readSubjects.ts).
  for await (const { event, seq, subject } of readEvents({ js, stream: names.eventsStream, unreadable: deps.unreadable }, filter, start, { filterHere: filter === names.eventSubjects })) {
    if (Date.parse(event.metadata.at) > until) return { events };
    if (!readableBy(event, readable)) continue;
    if (events.length === limit) return { events, next: events.at(-1)!.seq };
    events.push(historyEntryOf(event, seq, subject, names));
  }
  return { events };
}
