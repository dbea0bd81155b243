/**
 * Reads the messages of a stream's subjects to the end, through an ordered consumer: every
 * message, or the last one of each subject. Nothing waits forever: when no message comes
 * for `idleMs` while some are still pending, it fails saying what it waited for.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";

const IDLE_MS = 10_000;

export async function* readSubjects(
  js: JetStreamClient,
  stream: string,
  filter: string,
  deliver: "all" | "last-per-subject",
  idleMs = IDLE_MS,
): AsyncGenerator<JsMsg> {
  const consumer = await js.consumers.get(stream, {
    filter_subjects: filter,
    deliver_policy: deliver === "all" ? DeliverPolicy.All : DeliverPolicy.LastPerSubject,
  });
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
