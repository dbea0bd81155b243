/**
 * Rebuilds the KV projections from the event stream: empty the buckets, point the shared
 * `projector` consumer at the events still to come, and replay what is in the stream
 * here, from each entity's latest event (events carry the entity's whole state, so the
 * latest one alone rebuilds its entry: a million events write one entry per entity).
 * Registry processes keep running; their projector loops follow the new consumer on
 * their own, and the version guard keeps writes that race the replay correct.
 *
 * The replay reads through a short-lived last-per-subject consumer: on nats-server 2.9
 * such a consumer costs more per message the more subjects the stream has, so the
 * long-lived consumers deliver everything instead.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Names } from "../contract/names.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { PROJECTOR_DURABLE } from "./projector.ts";

export const PROJECTOR_CONSUMER_CONFIG = {
  durable_name: PROJECTOR_DURABLE,
  description: "Projects registry events into the KV buckets; shared by every registry process.",
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(30_000),
  max_ack_pending: 1024,
};

const IN_FLIGHT = 64;

type Replay = (event: RegistryEvent, seq: number) => Promise<void>;

/**
 * Creates the shared `projector` consumer for the events after the stream's current last
 * one, and returns that sequence: what is up to it is for `replayLatest`.
 */
export async function createProjectorConsumer(jsm: JetStreamManager, names: Names): Promise<number> {
  const upTo = (await jsm.streams.info(names.eventsStream)).state.last_seq;
  await jsm.consumers.add(names.eventsStream, {
    ...PROJECTOR_CONSUMER_CONFIG,
    filter_subject: names.eventSubjects,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: upTo + 1,
  });
  return upTo;
}

export async function rebuildProjections(js: JetStreamClient, jsm: JetStreamManager, names: Names, replay: Replay): Promise<{ events: number; entities: number }> {
  await jsm.consumers.delete(names.eventsStream, PROJECTOR_DURABLE).catch(() => undefined);
  for (const bucket of Object.values(names.buckets)) await jsm.streams.purge(`KV_${bucket}`);
  const upTo = await createProjectorConsumer(jsm, names);
  const entities = await replayLatest(js, names, upTo, replay);
  return { events: (await jsm.streams.info(names.eventsStream)).state.messages, entities };
}

/** Replays each entity's latest event up to sequence `upTo`; returns how many entities. */
export async function replayLatest(js: JetStreamClient, names: Names, upTo: number, replay: Replay): Promise<number> {
  if (upTo === 0) return 0;
  const latest = await js.consumers.get(names.eventsStream, { filter_subjects: names.eventSubjects, deliver_policy: DeliverPolicy.LastPerSubject });
  if ((await latest.info()).num_pending === 0) return 0;
  const messages = await latest.consume();
  const inFlight = new Set<Promise<void>>();
  let entities = 0;
  for await (const m of messages as AsyncIterable<JsMsg>) {
    if (m.seq <= upTo) {
      entities++;
      const p = replay(m.json<RegistryEvent>(), m.seq).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    if (m.info.pending === 0) break;
  }
  await Promise.all(inFlight);
  return entities;
}
