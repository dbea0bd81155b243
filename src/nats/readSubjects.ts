/**
 * Reads the messages of a stream's subjects to the end, through an ordered consumer: every
 * message (from a sequence or a time on), or the last one of each subject. The end is the last
 * message on the subjects when the read begins, asked of the stream: nats-server 2.9 undercounts
 * a consumer's pending when it starts at a sequence or a time, so pending cannot say where the end
 * is. Nothing waits forever: when no message comes for `idleMs` before the end, it fails saying
 * what it waited for.
 *
 * nats-server 2.9 creates a consumer with a wildcard filter in time proportional to the messages
 * after its start (it counts what is pending block by block, subject by subject): 0.6 s from the
 * middle of 2,000,000 events, 2 s from the start, where a consumer without a filter starts in
 * milliseconds. `filterHere` reads every subject and matches the filter in this process: for the
 * whole stream's subjects, and for reads that end soon after their start (time travel from a snapshot).
 */
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { isStreamNotFound, streamGone } from "./streamGone.ts";

const IDLE_MS = 10_000;

/** The batch of a long pass over a stream (ReadSubjectsOptions.batch). */
export const LONG_PASS_BATCH = 2000;

export type ReadSubjectsOptions = {
  /** How long without a message before the end fails the read (default 10 s). */
  idleMs?: number;
  /** Stops the read (the iteration just ends) when it aborts, even while a message is awaited. */
  signal?: AbortSignal;
  /**
   * Messages asked of the server at once (default the client's 100). A pass over many events
   * (time travel, snapshots) asks for more: 2,000 reads them about twice as fast, and events
   * are bounded by REGISTRY_MAX_REQUEST_BYTES.
   */
  batch?: number;
  /** The consumer reads every subject of the stream and the filter (a subject, or a prefix ending in `.>`) is matched here (see above). */
  filterHere?: boolean;
};

/** Whether a subject is one of a filter's: the filter is a subject, or a prefix ending in `.>`. */
export function subjectMatcher(filter: string): (subject: string) => boolean {
  if (filter === ">") return () => true;
  if (filter.includes("*") || filter.slice(0, -1).includes(">")) throw new Error(`readSubjects matches a subject or a prefix ending in .> here, not ${filter}`);
  if (!filter.endsWith(".>")) return (subject) => subject === filter;
  const prefix = filter.slice(0, -1);
  return (subject) => subject.length > prefix.length && subject.startsWith(prefix);
}

export async function* readSubjects(
  js: JetStreamClient,
  stream: string,
  filter: string,
  deliver: "all" | "last-per-subject" | { startSeq: number } | { startTime: string },
  opts: ReadSubjectsOptions = {},
): AsyncGenerator<JsMsg> {
  const { idleMs = IDLE_MS, signal } = opts;
  const from =
    deliver === "all"
      ? { deliver_policy: DeliverPolicy.All }
      : deliver === "last-per-subject"
        ? { deliver_policy: DeliverPolicy.LastPerSubject }
        : "startSeq" in deliver
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: deliver.startSeq }
          : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: deliver.startTime };
  const end = await lastMessageOf(js, stream, filter);
  if (end === undefined) return;
  if (typeof deliver === "object" && ("startSeq" in deliver ? deliver.startSeq > end.seq : Date.parse(deliver.startTime) > end.time)) return;
  const matches = opts.filterHere ? subjectMatcher(filter) : undefined;
  const consumer = await js.consumers.get(stream, { ...(matches ? {} : { filter_subjects: filter }), ...from });
  const messages = await consumer.consume(opts.batch !== undefined ? { max_messages: opts.batch } : {});
  let idle = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      void messages.stop();
    }, idleMs);
  };
  let last: JsMsg | undefined;
  const stop = () => void messages.stop();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    if (signal?.aborted) return;
    watch();
    for await (const m of messages) {
      watch();
      last = m;
      if (!matches || matches(m.subject)) yield m;
      if (m.seq >= end.seq) return;
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
    void messages.stop();
  }
  if (idle) {
    throw new Error(`no message from ${stream} (${filter}) for ${idleMs} ms while reading it to its end at sequence ${end.seq} (${last ? `last received ${last.seq}` : "none received"}); check nats-server and retry`);
  }
}

/** The sequence and time of the last message on the subjects (a wildcard filter included), if any. */
async function lastMessageOf(js: JetStreamClient, stream: string, filter: string): Promise<{ seq: number; time: number } | undefined> {
  const jsm = await js.jetstreamManager(false); // no account-info request: this runs per history page
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: filter });
    return m ? { seq: m.seq, time: m.time.getTime() } : undefined;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return undefined;
    if (isStreamNotFound(err)) throw streamGone(stream, err);
    throw err;
  }
}
