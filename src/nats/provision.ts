/**
 * Creates streams, durable consumers and KV buckets when missing, and brings the named
 * fields of existing ones to the given configuration. It knows no configuration of its own:
 * each comes from the module that uses the stream or consumer. Safe to run from every
 * process at every start, and again after every reconnect.
 */
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, StorageType, type ConsumerConfig, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { kvStream, kvSubject } from "./kvSubjects.ts";

/** A configuration the registry refuses to run on, or to rebuild from; the message says what to do. */
export class StorageRefused extends Error {
  override name = "StorageRefused";
}

export type StreamSpec = Partial<StreamConfig> & { name: string };
export type ConsumerSpec = Partial<ConsumerConfig> & { durable_name: string };

/** The fields of `spec` the stream's configuration does not have as given (its description aside). */
export function changedFields(current: Partial<StreamConfig>, spec: StreamSpec): (keyof StreamConfig)[] {
  return (Object.keys(spec) as (keyof StreamConfig)[]).filter((k) => k !== "description" && JSON.stringify(current[k]) !== JSON.stringify(spec[k]));
}

/**
 * What in a stream's configuration drops (or lets a client drop) messages that `spec` keeps:
 * a message, age or byte limit it does not have (a byte limit with `discard: new` refuses
 * instead, which drops nothing), fewer messages per subject, deletes or purges it denies, or
 * subjects it takes that the stream no longer does. Each as `field=value`.
 */
export function historyDropping(current: Partial<StreamConfig>, spec: StreamSpec): string[] {
  const found: string[] = [];
  const limited = (v: number | undefined) => v !== undefined && v > 0;
  if (limited(current.max_msgs) && !limited(spec.max_msgs)) found.push(`max_msgs=${current.max_msgs}`);
  if (limited(current.max_age) && !limited(spec.max_age)) found.push(`max_age=${current.max_age}`);
  if (limited(current.max_bytes) && current.discard !== DiscardPolicy.New && !(limited(spec.max_bytes) && spec.discard !== DiscardPolicy.New)) found.push(`max_bytes=${current.max_bytes} with discard old`);
  if (limited(spec.max_msgs_per_subject) && limited(current.max_msgs_per_subject) && (current.max_msgs_per_subject ?? 0) < (spec.max_msgs_per_subject ?? 0)) {
    found.push(`max_msgs_per_subject=${current.max_msgs_per_subject}`);
  }
  if (spec.deny_delete && !current.deny_delete) found.push("deny_delete=false");
  if (spec.deny_purge && !current.deny_purge) found.push("deny_purge=false");
  if (spec.subjects && JSON.stringify(current.subjects) !== JSON.stringify(spec.subjects)) found.push(`subjects=${JSON.stringify(current.subjects)}`);
  return found;
}

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
  if (changedFields(current, spec).length > 0) await jsm.streams.update(spec.name, { ...current, ...spec });
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

/**
 * A KV bucket's stream as the registry has it (as nats.js's Kvm creates it: KV deletes and
 * purges keys, so neither is denied): one value per key, file storage, no limits.
 */
export function bucketStreamSpec(bucket: string): StreamSpec {
  return {
    name: kvStream(bucket),
    subjects: [kvSubject(bucket, ">")],
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs_per_subject: 1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
  };
}

/** Creates the KV buckets that are missing (one value per key, file storage, `replicas` copies). */
export async function ensureBuckets(nc: NatsConnection, buckets: string[], replicas = 1): Promise<void> {
  const kvm = new Kvm(nc);
  for (const bucket of buckets) await kvm.create(bucket, { history: 1, storage: StorageType.File, replicas });
}
