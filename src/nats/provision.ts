/**
 * Creates the stream and buckets the registry needs, when missing. Safe to run from
 * every registry process at every start.
 */
import { JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { Names } from "../contract/names.ts";
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
  const kvm = new Kvm(nc);
  for (const bucket of Object.values(names.buckets)) {
    await kvm.create(bucket, { history: 1, storage: StorageType.File });
  }
}
