/**
 * Creates streams, durable consumers and KV buckets when missing, and brings the named
 * fields of existing ones to the given configuration. It knows no configuration of its own:
 * each comes from the module that uses the stream or consumer. Safe to run from every
 * process at every start, and again after every reconnect.
 */
import { JetStreamApiCodes, JetStreamApiError, StorageType, type ConsumerConfig, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

export type StreamSpec = Partial<StreamConfig> & { name: string };
export type ConsumerSpec = Partial<ConsumerConfig> & { durable_name: string };

const isNotFound = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

/** Creates the stream, or updates the fields of `spec` that differ; true when it had to be created. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<boolean> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(spec.name)).config;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add(spec);
    return true;
  }
  const differs = (Object.keys(spec) as (keyof StreamConfig)[]).some((k) => k !== "description" && JSON.stringify(current[k]) !== JSON.stringify(spec[k]));
  if (differs) await jsm.streams.update(spec.name, { ...current, ...spec });
  return false;
}

/**
 * Creates the durable consumer, or updates the `kept` fields of an existing one that
 * differ; true when this call created it (false also when another process did meanwhile).
 */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, spec: ConsumerSpec, kept: (keyof ConsumerConfig)[] = []): Promise<boolean> {
  let current: ConsumerConfig;
  try {
    current = (await jsm.consumers.info(stream, spec.durable_name)).config;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    try {
      await jsm.consumers.add(stream, spec);
      return true;
    } catch (addErr) {
      // Another process starting at the same moment created it.
      if (await jsm.consumers.info(stream, spec.durable_name).then(() => false, () => true)) throw addErr;
      return false;
    }
  }
  const update = Object.fromEntries(kept.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(spec[k])).map((k) => [k, spec[k]]));
  if (Object.keys(update).length > 0) await jsm.consumers.update(stream, spec.durable_name, update);
  return false;
}

/** Creates the KV buckets that are missing (one value per key, file storage, `replicas` copies). */
export async function ensureBuckets(nc: NatsConnection, buckets: string[], replicas = 1): Promise<void> {
  const kvm = new Kvm(nc);
  for (const bucket of buckets) await kvm.create(bucket, { history: 1, storage: StorageType.File, replicas });
}
