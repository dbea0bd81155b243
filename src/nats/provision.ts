/**
 * Creates the stream and buckets the registry needs, when missing. Safe to run from
 * every registry process at every start.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { Names } from "../contract/names.ts";
import { HEARTBEATS_DURABLE } from "../liveness/heartbeatIngest.ts";
import { PROJECTOR_DURABLE } from "../projector/projector.ts";
import { PROJECTOR_CONSUMER_CONFIG } from "../projector/rebuild.ts";


async function exists(probe: () => Promise<unknown>, notFoundCode: number): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === notFoundCode) return false;
    throw err;
  }
}

export async function provision(nc: NatsConnection, jsm: JetStreamManager, names: Names): Promise<void> {
  if (!(await exists(() => jsm.streams.info(names.eventsStream), JetStreamApiCodes.StreamNotFound))) {
    await jsm.streams.add({
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
  }
  if (!(await exists(() => jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE), JetStreamApiCodes.ConsumerNotFound))) {
    await jsm.consumers.add(names.eventsStream, { ...PROJECTOR_CONSUMER_CONFIG, filter_subject: names.eventSubjects });
  }
  if (!(await exists(() => jsm.streams.info(names.heartbeatsStream), JetStreamApiCodes.StreamNotFound))) {
    await jsm.streams.add({
      name: names.heartbeatsStream,
      description: "Node heartbeats: telemetry, the latest per node. Not events.",
      subjects: [names.heartbeatSubjects],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
      max_msgs_per_subject: 1,
      max_age: nanos(24 * 60 * 60_000),
      allow_direct: true,
    });
  }
  if (!(await exists(() => jsm.consumers.info(names.heartbeatsStream, HEARTBEATS_DURABLE), JetStreamApiCodes.ConsumerNotFound))) {
    await jsm.consumers.add(names.heartbeatsStream, {
      durable_name: HEARTBEATS_DURABLE,
      description: "Folds heartbeats into the nodes bucket; shared by every registry process.",
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.LastPerSubject,
      filter_subject: names.heartbeatSubjects,
    });
  }
  const kvm = new Kvm(nc);
  for (const bucket of Object.values(names.buckets)) {
    await kvm.create(bucket, { history: 1, storage: StorageType.File });
  }
}
