/**
 * Rebuilds the KV projections from the event stream: empty the buckets, then replay the
 * stream through a fresh `projector` consumer (from each entity's latest event, which is
 * what every event before it comes to). Registry processes
 * keep running; their projector loops pick the new consumer up on their own, and the
 * version guard keeps writes that race the replay correct.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Names } from "../contract/names.ts";
import { PROJECTOR_DURABLE } from "./projector.ts";

/**
 * A new projector consumer starts from each entity's latest event: events carry the
 * entity's whole state, so the latest one alone rebuilds its entry (the buckets are empty
 * then). A rebuild from a million events writes one entry per entity, not a million.
 */
export const PROJECTOR_CONSUMER_CONFIG = {
  durable_name: PROJECTOR_DURABLE,
  description: "Projects registry events into the KV buckets; shared by every registry process.",
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.LastPerSubject,
  ack_wait: nanos(30_000),
  max_ack_pending: 1024,
};

export async function rebuildProjections(jsm: JetStreamManager, names: Names): Promise<{ events: number }> {
  await jsm.consumers.delete(names.eventsStream, PROJECTOR_DURABLE).catch(() => undefined);
  for (const bucket of Object.values(names.buckets)) await jsm.streams.purge(`KV_${bucket}`);
  await jsm.consumers.add(names.eventsStream, { ...PROJECTOR_CONSUMER_CONFIG, filter_subject: names.eventSubjects });
  return { events: (await jsm.streams.info(names.eventsStream)).state.messages };
}
