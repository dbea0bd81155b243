/**
 * The projector: turns events into KV entries. `project` is called inline by the write
 * path (so a reply is sent once its event is projected) and by the durable consumer
 * `projector`, shared by all registry processes, which catches up whatever a process
 * appended but did not project (it crashed in between) and replays from 1 on rebuild.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { writesFor } from "./projections.ts";
import type { KvWriter } from "./kvWriter.ts";

export const PROJECTOR_DURABLE = "projector";
const MAX_IN_FLIGHT = 64;

export type Projector = {
  /** Applies one event, stored at stream sequence `seq`, to the buckets. */
  project(event: RegistryEvent, seq: number): Promise<void>;
  /** Follows the durable consumer until `stop()`; restarts itself on failure. */
  run(): Promise<void>;
  stop(): Promise<void>;
};

export function projector(deps: { js: JetStreamClient; names: Names; writer: KvWriter; log: Logger }): Projector {
  const { js, names, writer, log } = deps;
  let stopped = false;
  let stopCurrent: (() => void) | undefined;
  let finished: Promise<void> = Promise.resolve();

  async function project(event: RegistryEvent, seq: number): Promise<void> {
    for (const w of writesFor(event)) {
      await writer.write(names.buckets[w.bucket], w.key, w.value, seq, w.merge);
    }
  }

  async function handle(m: JsMsg): Promise<void> {
    let event: RegistryEvent;
    try {
      event = m.json<RegistryEvent>();
      writesFor(event); // throws on an event type this version does not know
    } catch (err) {
      log.error({ seq: m.seq, subject: m.subject, err }, "event cannot be projected by this version; skipped");
      m.term();
      return;
    }
    try {
      await project(event, m.seq);
      m.ack();
    } catch (err) {
      log.warn({ seq: m.seq, err }, "projection failed; the event will be redelivered");
      m.nak(1000);
    }
  }

  async function follow(): Promise<void> {
    const consumer = await js.consumers.get(names.eventsStream, PROJECTOR_DURABLE);
    const messages = await consumer.consume({ max_messages: 256 });
    stopCurrent = () => void messages.stop();
    void (async () => {
      // A rebuild deletes and re-creates the consumer: start over on the new one.
      for await (const status of messages.status()) {
        if (status.type === "consumer_deleted" || status.type === "consumer_not_found") {
          log.info({ status: status.type }, "projector consumer replaced; following the new one");
          messages.stop();
        }
      }
    })();
    const inFlight = new Set<Promise<void>>();
    for await (const m of messages) {
      const p = handle(m).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  return {
    project,
    run() {
      finished = (async () => {
        while (!stopped) {
          try {
            await follow();
            if (!stopped) await new Promise((r) => setTimeout(r, 100)); // the consumer may be being re-created
          } catch (err) {
            if (stopped) break;
            log.warn({ err }, "projector consumer failed; restarting in 1s");
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
