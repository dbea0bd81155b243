/**
 * Reads the messages of a stream's subjects to the end, through an ordered consumer: every
 * message (from a sequence or a time on), or the last one of each subject. Nothing waits forever: when no message comes
 * for `idleMs` while some are still pending, it fails saying what it waited for.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";

const IDLE_MS = 10_000;

export async function* readSubjects(
  js: JetStreamClient,
  stream: string,
  filter: string,
  deliver: "all" | "last-per-subject" | { startSeq: number } | { startTime: string },
  idleMs = IDLE_MS,
): AsyncGenerator<JsMsg> {
  const from =
    deliver === "all"
      ? { deliver_policy: DeliverPolicy.All }
      : deliver === "last-per-subject"
        ? { deliver_policy: DeliverPolicy.LastPerSubject }
        : "startSeq" in deliver
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: deliver.startSeq }
          : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: deliver.startTime };
  const consumer = await js.consumers.get(stream, { filter_subjects: filter, ...from });
  const pending = (await consumer.info()).num_pending;
  if (pending === 0) return;
  const messages = await consumer.consume();
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
  try {
    watch();
    for await (const m of messages) {
      watch();
      last = m;
      yield m;
      if (m.info.pending === 0) return;
    }
  } finally {
    clearTimeout(timer);
    void messages.stop();
  }
  if (idle) {
    throw new Error(`no message from ${stream} (${filter}) for ${idleMs} ms while reading it to its end (${last ? `last at sequence ${last.seq}, ${last.info.pending} pending` : `${pending} pending, none received`}); check nats-server and retry`);
  }
}
