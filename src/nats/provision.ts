/**
 * Creates the streams, durable consumers and buckets the registry needs, when missing.
 * Safe to run from every registry process at every start.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { Names } from "../contract/names.ts";
import { HEARTBEATS_DURABLE } from "../liveness/heartbeatIngest.ts";
import { PROJECTOR_DURABLE } from "../projector/projector.ts";
import { createProjectorConsumer } from "../projector/rebuild.ts";

async function missing(probe: () => Promise<unknown>, notFoundCode: number): Promise<boolean> {
  try {
    await probe();
    return false;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === notFoundCode) return true;
    throw err;
  }
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  if (await missing(() => jsm.streams.info(config.name), JetStreamApiCodes.StreamNotFound)) await jsm.streams.add(config);
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  if (await missing(() => jsm.consumers.info(stream, config.durable_name), JetStreamApiCodes.ConsumerNotFound)) await jsm.consumers.add(stream, config);
}

/**
 * Returns the sequence up to which events are already in the stream but are not followed
 * by the projector consumer it had to create (0 when it existed): the caller replays them.
 */
export async function provision(nc: NatsConnection, jsm: JetStreamManager, names: Names): Promise<{ replayUpTo: number }> {
  await ensureStream(jsm, {
    name: names.eventsStream,
    description: "Registry events: the source of truth. One subject per entity.",
    subjects: [names.eventSubjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    allow_direct: true,
    deny_delete: true,
    deny_purge: true,
    duplicate_window: nanos(2 * 60_000),
  });
  const projectorMissing = await missing(() => jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE), JetStreamApiCodes.ConsumerNotFound);
  let replayUpTo = 0;
  if (projectorMissing) {
    try {
      replayUpTo = await createProjectorConsumer(jsm, names);
    } catch (err) {
      // Another registry process starting at the same moment created it (and replays).
      if (await missing(() => jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE), JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
  }

  await ensureStream(jsm, {
    name: names.heartbeatsStream,
    description: "Node heartbeats: telemetry, the latest per node. Not events.",
    subjects: [names.heartbeatSubjects],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: 1,
    max_age: nanos(24 * 60 * 60_000),
    allow_direct: true,
  });
  await ensureConsumer(jsm, names.heartbeatsStream, {
    durable_name: HEARTBEATS_DURABLE,
    description: "Folds heartbeats into the nodes bucket; shared by every registry process.",
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All, // the stream keeps one heartbeat per node
    filter_subject: names.heartbeatSubjects,
  });

  const kvm = new Kvm(nc);
  for (const bucket of Object.values(names.buckets)) {
    await kvm.create(bucket, { history: 1, storage: StorageType.File });
  }
  return { replayUpTo };
}
