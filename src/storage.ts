/**
 * Wires the registry's storage on NATS: the streams, consumers and buckets (each
 * configuration from the module that uses it), the event store and KV writer of a process,
 * and rebuilds. Used by every registry process, `registry rebuild` and the tests.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Names } from "./contract/names.ts";
import { readDefinition, readInstance, readNode } from "./contract/readers.ts";
import type { Capacity } from "./eventstore/capacity.ts";
import { eventsStreamConfig, eventsStreamMaxBytes, natsEventStore } from "./eventstore/eventStore.ts";
import { defaultConfig, eventsReserveBytesOf } from "./config.ts";
import { heartbeatsConsumerConfig, heartbeatsStreamConfig } from "./liveness/heartbeatIngest.ts";
import { jetStreamOf } from "./nats/connect.ts";
import { streamRequestsOf } from "./nats/streamRequests.ts";
import { ensureBuckets, ensureConsumer, ensureStream, type StreamSpec } from "./nats/provision.ts";
import { kvWriter } from "./projector/kvWriter.ts";
import { projectorConsumerConfig } from "./projector/projector.ts";
import { emptiedBuckets, rebuildProjections } from "./projector/rebuild.ts";
import { unreadableCounter, type Unreadable } from "./unreadable.ts";

/**
 * The retention and replication of the streams and buckets (docs/API.md, "Retention" and
 * "Durability"); the configuration's fields of the same names.
 */
export type StreamLimits = {
  eventsHistoryPerEntity: number;
  heartbeatSubjects: number;
  replicas: number;
  eventsMaxBytes: number;
  eventsReserveBytes?: number | undefined;
};
export const DEFAULT_STREAM_LIMITS: StreamLimits = { eventsHistoryPerEntity: 10_000, heartbeatSubjects: 100_000, replicas: 1, eventsMaxBytes: defaultConfig().eventsMaxBytes };

/** The event stream's configuration for these limits, given what the stream holds now (if it exists). */
async function eventsStreamSpec(jsm: JetStreamManager, names: Names, limits: StreamLimits): Promise<StreamSpec> {
  const info = await jsm.streams.info(names.eventsStream).catch(() => undefined);
  const current = info ? { bytes: info.state.bytes, maxBytes: info.config.max_bytes } : undefined;
  const maxBytes = eventsStreamMaxBytes(limits.eventsMaxBytes, eventsReserveBytesOf(limits), current);
  return { ...eventsStreamConfig(names, limits.eventsHistoryPerEntity, maxBytes), num_replicas: limits.replicas };
}

/**
 * Everything the registry needs on NATS. `projectorCreatedOnEvents`: the projector consumer
 * had to be created on a stream that already holds events (a first start on old events), so
 * the buckets are to be rebuilt from them. `heartbeatsCreated`: nats-server had lost them.
 */
export async function provisionRegistry(
  nc: NatsConnection,
  jsm: JetStreamManager,
  names: Names,
  limits: StreamLimits = DEFAULT_STREAM_LIMITS,
): Promise<{ projectorCreatedOnEvents: boolean; heartbeatsCreated: boolean }> {
  const replicated = { num_replicas: limits.replicas };
  await ensureStream(jsm, await eventsStreamSpec(jsm, names, limits));
  const lastSeq = (await jsm.streams.info(names.eventsStream)).state.last_seq;
  const projectorCreated = await ensureConsumer(jsm, names.eventsStream, projectorConsumerConfig(names, lastSeq + 1), ["ack_wait"]);
  const heartbeatsCreated = await ensureStream(jsm, { ...heartbeatsStreamConfig(names, limits.heartbeatSubjects), ...replicated });
  await ensureConsumer(jsm, names.heartbeatsStream, heartbeatsConsumerConfig(names));
  await ensureBuckets(nc, Object.values(names.buckets), limits.replicas);
  return { projectorCreatedOnEvents: projectorCreated && lastSeq > 0, heartbeatsCreated };
}

/**
 * The event stores and the KV writer of a process, all reading what they find as untrusted:
 * `store` for callers' commands (refused at REGISTRY_EVENTS_MAX_BYTES), `ownStore` for the
 * registry's own loops (they write on into the reserve).
 */
export function storagePorts(nc: NatsConnection, js: JetStreamClient, names: Names, unreadable: Unreadable, capacity?: Capacity) {
  const requests = streamRequestsOf(nc);
  const entryReaders: Record<string, (value: unknown, key: string) => { ok: boolean }> = {
    [names.buckets.definition]: readDefinition,
    [names.buckets.instance]: readInstance,
    [names.buckets.node]: readNode,
  };
  return {
    store: natsEventStore(js, requests, names.eventsStream, { unreadable, ...(capacity ? { capacity } : {}) }),
    ownStore: natsEventStore(js, requests, names.eventsStream, { unreadable, ...(capacity ? { capacity } : {}), reserve: true }),
    writer: kvWriter(requests, (bucket, key, value) => entryReaders[bucket]?.(value, key).ok ?? false),
  };
}

/** `registry rebuild`, and a start on buckets that lost their entries: the buckets rebuilt in place from the stream. */
export async function rebuildBuckets(
  nc: NatsConnection,
  names: Names,
  log: Logger,
  unreadable = unreadableCounter(log),
  progress?: (done: number, total: number) => void,
) {
  const { js, jsm } = await jetStreamOf(nc);
  const { store, writer } = storagePorts(nc, js, names, unreadable);
  return rebuildProjections({ js, jsm, names, store, writer, unreadable, log, ...(progress ? { progress } : {}) });
}

/**
 * Brings NATS to what the registry needs, at start and after every reconnect (a restarted
 * nats-server has lost the memory-stored heartbeats stream; a lost store, everything): the
 * streams, consumers and buckets, then the buckets rebuilt when they cannot be trusted.
 */
export async function prepareStorage(nc: NatsConnection, names: Names, limits: StreamLimits, log: Logger, unreadable: Unreadable): Promise<void> {
  const { jsm } = await jetStreamOf(nc);
  const { projectorCreatedOnEvents, heartbeatsCreated } = await provisionRegistry(nc, jsm, names, limits);
  if (heartbeatsCreated) log.info({ stream: names.heartbeatsStream }, "heartbeats stream created");
  const emptied = await emptiedBuckets(jsm, names);
  if (projectorCreatedOnEvents || emptied.length > 0) {
    // A first start on old events, or buckets purged or lost: the stream explains them.
    const rebuilt = await rebuildBuckets(nc, names, log, unreadable);
    log.info({ ...rebuilt, emptied }, "projected the events already in the stream");
  }
}

/** Runs `prepare` again whenever the connection comes back. */
export function prepareOnReconnect(nc: NatsConnection, prepare: () => Promise<void>, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== "reconnect") continue;
      await prepare().catch((err) => log.error({ err }, "could not provision streams after reconnecting; retrying on the next reconnect"));
    }
  })();
}
