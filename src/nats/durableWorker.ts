/**
 * A `for await` loop over a durable pull consumer that restarts itself: when the consumer
 * fails, or is deleted and re-created (a restarted nats-server re-provisioned), it starts
 * over on the current one.
 * Messages are handled concurrently, at most `maxInFlight` at a time.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";

/**
 * How long one pull waits on the server. The client notices a pull the server lost (a leader
 * change, quorum lost and back) after two missed idle heartbeats, half of this each: with
 * nats.js's default of 30 s the projector stood still for 10-18 s after a cluster got quorum
 * back; with 4 s it resumes within about 4 s, for one small request every 4 s when idle.
 */
const PULL_EXPIRES_MS = 4000;

export type DurableWorker = { run: () => Promise<void>; stop: () => Promise<void> };

export function durableWorker(deps: {
  js: JetStreamClient;
  stream: string;
  durable: string;
  handle: (m: JsMsg) => Promise<void>;
  maxInFlight: number;
  log: Logger;
}): DurableWorker {
  const { js, stream, durable, handle, log } = deps;
  let stopped = false;
  let stopCurrent: (() => void) | undefined;
  let finished: Promise<void> = Promise.resolve();

  async function follow(): Promise<void> {
    const consumer = await js.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: Math.max(256, deps.maxInFlight * 2), expires: PULL_EXPIRES_MS });
    stopCurrent = () => void messages.stop();
    void (async () => {
      for await (const status of messages.status()) {
        // A rebuild re-created the consumer, or a restarted nats-server lost it with its memory stream.
        if (status.type === "consumer_deleted" || status.type === "consumer_not_found" || status.type === "stream_not_found") {
          log.info({ durable, status: status.type }, "consumer replaced; following the new one");
          messages.stop();
        }
      }
    })();
    const inFlight = new Set<Promise<void>>();
    for await (const m of messages) {
      const p = handle(m).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= deps.maxInFlight) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  return {
    run() {
      finished = (async () => {
        while (!stopped) {
          try {
            await follow();
            if (!stopped) await new Promise((r) => setTimeout(r, 100)); // the consumer may be being re-created
          } catch (err) {
            if (stopped) break;
            log.warn({ err, durable }, "consumer failed; restarting in 1s");
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      })();
      return finished;
    },
    async stop() {
      stopped = true;
      stopCurrent?.();
      await finished;
    },
  };
}
