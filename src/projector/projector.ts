/**
 * The projector: turns events into KV entries. `project` is called inline by the write
 * path (so a reply is sent once its event is projected) and by the durable consumer
 * `projector`, shared by all registry processes, which catches up whatever a process
 * appended but did not project (it crashed in between) and replays from 1 on rebuild.
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { durableWorker } from "../nats/durableWorker.ts";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { bucketOf, keysWrittenBy, PROJECTIONS, type BucketName, type KnownEntries, type Projection } from "./projections.ts";
import type { KvWriter, StoredEntry } from "./kvWriter.ts";
import { eventOf } from "../eventstore/readEvents.ts";
import type { Unreadable } from "../unreadable.ts";

export const PROJECTOR_DURABLE = "projector";
const GUESS_ABSENT: KnownEntries = { definition: () => null, instance: () => null, node: () => null, nodeInstance: () => null };

/**
 * The durable consumer shared by every registry process, starting at `startSeq` (a new one
 * starts after the events already in the stream: a rebuild projects those). What a process
 * that dies took but did not project is delivered again after the ack wait.
 */
export function projectorConsumerConfig(names: Names, startSeq: number): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: PROJECTOR_DURABLE,
    description: "Projects registry events into the KV buckets; shared by every registry process.",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
    filter_subject: names.eventSubjects,
    ack_wait: nanos(3_000),
    max_ack_pending: 1024,
  };
}
const MAX_IN_FLIGHT = 64;
/**
 * How long after its append the durable consumer waits for the read models to show an
 * event's writes before making them itself. The consumer usually delivers an event before
 * the KV write that the write path makes for it has reached the read models; waiting costs
 * nothing on the server, while repeating the write costs a refused compare-and-set and a
 * read. Older events (a backlog: a process died before projecting, or events were published
 * straight onto the stream) are not waited for, so a backlog is projected at full speed.
 */
const REFLECTED_WITHIN_MS = 250;

export type Projector = {
  /** Applies one event just appended at stream sequence `seq` to the buckets. */
  project: (event: RegistryEvent, seq: number) => Promise<void>;
  /** Applies one event read back from the stream (catch-up, rebuild). */
  replay: (event: RegistryEvent, seq: number) => Promise<void>;
  /** Follows the durable consumer until `stop()`; restarts itself on failure. */
  run: () => Promise<void>;
  stop: () => Promise<void>;
};

export function projector(deps: {
  js: JetStreamClient;
  names: Names;
  writer: KvWriter;
  log: Logger;
  unreadable: Unreadable;
  /** A read model's copy of an entry (null: absent), to write without reading first. */
  knownEntries?: KnownEntries;
  /** Resolves true once a read model shows version `version` of a key, false after `withinMs`. */
  whenReflected?: (bucket: BucketName, key: string, version: number, withinMs: number) => Promise<boolean>;
}): Projector {
  const { js, names, writer, log } = deps;
  /**
   * The read models' copies save a read when a new event is projected. A replayed one (the
   * durable consumer; a rebuild after the buckets were emptied, which the copies do not
   * see) guesses the key is absent instead: true for every key of a rebuild, and a wrong
   * guess only costs the read it would have made anyway.
   */
  async function write(event: RegistryEvent, seq: number, known: KnownEntries | undefined): Promise<void> {
    await writeTo(PROJECTIONS.definition, event, seq, known?.definition);
    // The per-node index before the instance: an instance entry that shows an event's version says the index has it too.
    await writeTo(PROJECTIONS.nodeInstance, event, seq, known?.nodeInstance);
    await writeTo(PROJECTIONS.instance, event, seq, known?.instance);
    await writeTo(PROJECTIONS.node, event, seq, known?.node);
  }
  async function writeTo<T>(p: Projection<T>, event: RegistryEvent, seq: number, known: ((key: string) => StoredEntry<T> | null | undefined) | undefined): Promise<void> {
    for (const w of p.evolve(event)) await writer.write(bucketOf(names, p), w.key, w.value, seq, { merge: p.merge, known: known?.(w.key) });
  }
  const project = (event: RegistryEvent, seq: number) => write(event, seq, deps.knownEntries);
  const replay = (event: RegistryEvent, seq: number) => write(event, seq, GUESS_ABSENT);

  /**
   * Whether every write of the event is already in the read models (so in the buckets): the
   * write path made it. Waits until `REFLECTED_WITHIN_MS` after the append at most (an event
   * dated in the future by a skewed clock waits that long, no more).
   */
  async function reflected(event: RegistryEvent, seq: number, appendedAtMs: number): Promise<boolean> {
    const { whenReflected } = deps;
    if (!whenReflected) return false;
    const wait = Math.min(REFLECTED_WITHIN_MS, Math.max(0, appendedAtMs + REFLECTED_WITHIN_MS - Date.now()));
    const shown = await Promise.all(keysWrittenBy(event).map((w) => whenReflected(w.bucket, w.key, seq, wait)));
    return shown.every(Boolean);
  }

  async function handle(m: JsMsg): Promise<void> {
    const event = eventOf(m, names.eventsStream, deps.unreadable);
    if (!event) {
      m.term();
      return;
    }
    try {
      if (!(await reflected(event, m.seq, m.info.timestampNanos / 1e6))) await replay(event, m.seq);
      m.ack();
    } catch (err) {
      log.warn({ seq: m.seq, err }, "projection failed; the event will be redelivered");
      m.nak(1000);
    }
  }

  const worker = durableWorker({ js, stream: names.eventsStream, durable: PROJECTOR_DURABLE, handle, maxInFlight: MAX_IN_FLIGHT, log });
  return { project, replay, run: worker.run, stop: worker.stop };
}
