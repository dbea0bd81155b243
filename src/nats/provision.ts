/**
 * Creates the streams, durable consumers and buckets the registry needs, when missing, and
 * brings the limits of existing ones to the configured ones. Safe to run from every
 * registry process at every start; the heartbeats stream (memory storage: it is lost when
 * nats-server restarts) is provisioned again on every reconnect.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
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
import { PROJECTOR_CONSUMER_CONFIG, createProjectorConsumer } from "../projector/rebuild.ts";

/** The retention policy of the streams (docs/API.md, "Streams and retention"). */
export type StreamLimits = {
  /** Events kept per entity; older ones of that entity are dropped, its latest (its whole state) always stays. */
  eventsHistoryPerEntity: number;
  /** Heartbeat subjects kept (one message each); past it the oldest go. */
  heartbeatSubjects: number;
};

export const DEFAULT_STREAM_LIMITS: StreamLimits = { eventsHistoryPerEntity: 10_000, heartbeatSubjects: 100_000 };

/** Heartbeats older than this say nothing about now; the stream forgets them. */
const HEARTBEAT_MAX_AGE_MS = 60 * 60_000;
/** A heartbeat larger than this is refused by the stream (a node with many GPUs is a few KiB). */
const HEARTBEAT_MAX_BYTES = 64 * 1024;

async function missing(probe: () => Promise<unknown>, notFoundCode: number): Promise<boolean> {
  try {
    await probe();
    return false;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === notFoundCode) return true;
    throw err;
  }
}

type ManagedStream = Partial<StreamConfig> & { name: string };

/** Creates the stream, or updates the fields of `config` that differ; true when it had to be created. */
async function ensureStream(jsm: JetStreamManager, config: ManagedStream): Promise<boolean> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(config.name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add(config);
    return true;
  }
  const changed = (Object.keys(config) as (keyof StreamConfig)[]).filter((k) => k !== "description" && JSON.stringify(current[k]) !== JSON.stringify(config[k]));
  if (changed.length > 0) await jsm.streams.update(config.name, { ...current, ...config });
  return false;
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  if (await missing(() => jsm.consumers.info(stream, config.durable_name), JetStreamApiCodes.ConsumerNotFound)) await jsm.consumers.add(stream, config);
}

/** The heartbeats stream and its consumer; true when the stream had to be created (first start, or nats-server restarted). */
export async function provisionHeartbeats(jsm: JetStreamManager, names: Names, limits: StreamLimits = DEFAULT_STREAM_LIMITS): Promise<boolean> {
  const created = await ensureStream(jsm, {
    name: names.heartbeatsStream,
    description: "Node heartbeats: telemetry, the latest per node. Not events.",
    subjects: [names.heartbeatSubjects],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
    max_msgs: limits.heartbeatSubjects,
    max_age: nanos(HEARTBEAT_MAX_AGE_MS),
    max_msg_size: HEARTBEAT_MAX_BYTES,
    allow_direct: true,
  });
  await ensureConsumer(jsm, names.heartbeatsStream, {
    durable_name: HEARTBEATS_DURABLE,
    description: "Folds heartbeats into the nodes bucket; shared by every registry process.",
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All, // the stream keeps one heartbeat per node
    filter_subject: names.heartbeatSubjects,
  });
  return created;
}

/**
 * Everything the registry needs. `projectorCreatedOnEvents` says that the projector
 * consumer had to be created on a stream that already holds events (a first start on old
 * events): the caller rebuilds the buckets from them.
 */
export async function provision(
  nc: NatsConnection,
  jsm: JetStreamManager,
  names: Names,
  limits: StreamLimits = DEFAULT_STREAM_LIMITS,
): Promise<{ projectorCreatedOnEvents: boolean }> {
  await ensureStream(jsm, {
    name: names.eventsStream,
    description: "Registry events: the source of truth. One subject per entity.",
    subjects: [names.eventSubjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // No byte or age limit: the store would drop the oldest messages, which may be the only
    // event of an entity. Size is watched by the registry, which refuses writes at its limit.
    max_msgs_per_subject: limits.eventsHistoryPerEntity,
    allow_direct: true,
    deny_delete: true,
    deny_purge: true,
    duplicate_window: nanos(2 * 60_000),
  });
  let projectorCreatedOnEvents = false;
  if (await missing(() => jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE), JetStreamApiCodes.ConsumerNotFound)) {
    try {
      projectorCreatedOnEvents = (await createProjectorConsumer(jsm, names)) > 0;
    } catch (err) {
      // Another registry process starting at the same moment created it (and rebuilds).
      if (await missing(() => jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE), JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
  } else {
    const { config } = await jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE);
    if (config.ack_wait !== PROJECTOR_CONSUMER_CONFIG.ack_wait) await jsm.consumers.update(names.eventsStream, PROJECTOR_DURABLE, { ack_wait: PROJECTOR_CONSUMER_CONFIG.ack_wait });
  }

  await provisionHeartbeats(jsm, names, limits);
  const kvm = new Kvm(nc);
  for (const bucket of Object.values(names.buckets)) {
    await kvm.create(bucket, { history: 1, storage: StorageType.File });
  }
  return { projectorCreatedOnEvents };
}
