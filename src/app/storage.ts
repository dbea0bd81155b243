/**
 * Wires the registry's storage on NATS: the streams, consumers and buckets (each
 * configuration from the module that uses it), the event store and KV writer of a process,
 * and rebuilds. Used by every registry process, `registry rebuild` and the tests.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { Capacity } from "../eventstore/capacity.ts";
import { eventsStreamConfig, eventsStreamMaxBytes, natsEventStore } from "../eventstore/eventStore.ts";
import { defaultConfig, eventsReserveBytesOf } from "../config.ts";
import { jetStreamOf } from "../nats/connect.ts";
import { streamRequestsOf } from "../nats/streamRequests.ts";
import { StorageRefused, bucketStreamSpec, changedFields, ensureBuckets, ensureConsumer, ensureStream, historyDropping, type StreamSpec } from "../nats/provision.ts";
import { kvWriter } from "../projector/kvWriter.ts";
import { projectorConsumerConfig } from "../projector/projector.ts";
import { emptiedBuckets, rebuildProjections } from "../projector/rebuild.ts";
import { unreadableCounter, type Unreadable } from "../unreadable.ts";
import { everyTick } from "../ticker.ts";
import { kvStream } from "../nats/kvSubjects.ts";

/**
 * The retention and replication of the streams and buckets (docs/API.md, "Retention" and
 * "Durability"); the configuration's fields of the same names.
 */
export type StreamLimits = {
  eventsHistoryPerEntity: number;
  replicas: number;
  eventsMaxBytes: number;
  eventsReserveBytes?: number | undefined;
};
export const DEFAULT_STREAM_LIMITS: StreamLimits = { eventsHistoryPerEntity: 10_000, replicas: 1, eventsMaxBytes: defaultConfig().eventsMaxBytes };

/** The event stream's configuration for these limits, given what the stream holds now (if it exists). */
async function eventsStreamSpec(jsm: JetStreamManager, names: Names, limits: StreamLimits): Promise<StreamSpec> {
  const info = await jsm.streams.info(names.eventsStream).catch(() => undefined);
  const current = info ? { bytes: info.state.bytes, maxBytes: info.config.max_bytes } : undefined;
  const maxBytes = eventsStreamMaxBytes(limits.eventsMaxBytes, eventsReserveBytesOf(limits), current);
  return { ...eventsStreamConfig(names, limits.eventsHistoryPerEntity, maxBytes), num_replicas: limits.replicas };
}

/** One of the registry's streams or buckets not as the registry configures it. */
export type StorageFinding = { stream: string; missing: boolean; fields: string[]; dropsHistory: string[] };

/** The streams that hold what cannot be had again (the events, the buckets), as the registry configures them. */
async function registryStreamSpecs(jsm: JetStreamManager, names: Names, limits: StreamLimits): Promise<{ spec: StreamSpec; history: boolean }[]> {
  const replicated = { num_replicas: limits.replicas };
  return [
    { spec: await eventsStreamSpec(jsm, names, limits), history: true },
    ...Object.values(names.buckets).map((b) => ({ spec: { ...bucketStreamSpec(b), ...replicated }, history: true })),
  ];
}

/** What differs from the registry's configuration of its streams and buckets (nothing is changed). */
export async function storageFindings(jsm: JetStreamManager, names: Names, limits: StreamLimits): Promise<StorageFinding[]> {
  const findings: StorageFinding[] = [];
  for (const { spec, history } of await registryStreamSpecs(jsm, names, limits)) {
    let config: StreamConfig;
    try {
      config = (await jsm.streams.info(spec.name)).config;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        findings.push({ stream: spec.name, missing: true, fields: [], dropsHistory: [] });
        continue;
      }
      throw err;
    }
    const fields = changedFields(config, spec).map((k) => `${k}=${JSON.stringify(config[k])} (the registry's: ${JSON.stringify(spec[k])})`);
    if (fields.length > 0) findings.push({ stream: spec.name, missing: false, fields, dropsHistory: history ? historyDropping(config, spec) : [] });
  }
  return findings;
}

/** Entries the buckets hold, all together. */
async function bucketEntries(jsm: JetStreamManager, names: Names): Promise<number> {
  let n = 0;
  for (const bucket of Object.values(names.buckets)) n += await jsm.streams.info(kvStream(bucket)).then((i) => i.state.messages, () => 0);
  return n;
}

/**
 * Refuses what the registry must not run on: its event stream gone while the buckets hold
 * entries (an empty stream would not explain them, and versions would start again), and, when
 * `refuseDropping`, a stream or bucket someone configured to drop history (at start: it is
 * not the registry's to overrule silently). What else differs is the registry's to restore.
 */
async function refuseUnsafe(jsm: JetStreamManager, names: Names, findings: StorageFinding[], refuseDropping: boolean): Promise<void> {
  if (findings.some((f) => f.stream === names.eventsStream && f.missing)) {
    const entries = await bucketEntries(jsm, names);
    if (entries > 0) {
      throw new StorageRefused(
        `the event stream ${names.eventsStream} is gone while the buckets hold ${entries} entries: it was deleted outside the registry. ` +
          "Restore it from a backup (nats stream restore), or, to start over on purpose, delete the buckets too (nats kv rm); the registry creates neither an empty stream nor writes on it",
      );
    }
  }
  const dropping = refuseDropping ? findings.filter((f) => f.dropsHistory.length > 0) : [];
  if (dropping.length > 0) {
    const what = dropping.map((f) => `${f.stream}: ${f.dropsHistory.join(", ")}`).join("; ");
    throw new StorageRefused(
      `refusing to start: ${what}, set outside the registry, drops history the registry keeps. Check what was lost (nats stream info), set it back ` +
        "(nats stream edit <stream> with the limit at -1, deny delete and purge on), then start again; the registry changes nothing meanwhile",
    );
  }
}

/**
 * Everything the registry needs on NATS. `projectorCreatedOnEvents`: the projector consumer
 * had to be created on a stream that already holds events (a first start on old events), so
 * the buckets are to be rebuilt from them. `heartbeatsRemoved`: the stream an earlier version
 * stored heartbeats in was there, and is deleted (heartbeats are folded in memory now).
 * At start (`refuseDropping`) a configuration someone set to drop history is refused
 * (StorageRefused); otherwise the registry's configuration is restored (`changed`).
 */
export async function provisionRegistry(
  nc: NatsConnection,
  jsm: JetStreamManager,
  names: Names,
  limits: StreamLimits = DEFAULT_STREAM_LIMITS,
  opts: { refuseDropping?: boolean } = {},
): Promise<{ projectorCreatedOnEvents: boolean; heartbeatsRemoved: boolean; changed: StorageFinding[] }> {
  const changed = await storageFindings(jsm, names, limits);
  await refuseUnsafe(jsm, names, changed, opts.refuseDropping ?? false);
  const replicated = { num_replicas: limits.replicas };
  await ensureStream(jsm, await eventsStreamSpec(jsm, names, limits));
  const lastSeq = (await jsm.streams.info(names.eventsStream)).state.last_seq;
  const projectorCreated = await ensureConsumer(jsm, names.eventsStream, projectorConsumerConfig(names, lastSeq + 1), ["ack_wait"]);
  const heartbeatsRemoved = await jsm.streams.delete(names.heartbeatsStream).catch(() => false);
  await ensureBuckets(nc, [...Object.values(names.buckets), names.snapshotsBucket], limits.replicas);
  for (const bucket of Object.values(names.buckets)) await ensureStream(jsm, { ...bucketStreamSpec(bucket), ...replicated });
  return { projectorCreatedOnEvents: projectorCreated && lastSeq > 0, heartbeatsRemoved, changed };
}

/**
 * The event stores and the KV writer of a process, all reading what they find as untrusted:
 * `store` for callers' commands (refused at REGISTRY_EVENTS_MAX_BYTES), `ownStore` for the
 * registry's own loops (they write on into the reserve).
 */
export function storagePorts(nc: NatsConnection, js: JetStreamClient, names: Names, unreadable: Unreadable, capacity?: Capacity) {
  const requests = streamRequestsOf(nc);
  return {
    store: natsEventStore(js, requests, names.eventsStream, { unreadable, ...(capacity ? { capacity } : {}) }),
    ownStore: natsEventStore(js, requests, names.eventsStream, { unreadable, ...(capacity ? { capacity } : {}), reserve: true }),
    writer: kvWriter(requests),
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
export async function prepareStorage(
  nc: NatsConnection,
  names: Names,
  limits: StreamLimits,
  log: Logger,
  unreadable: Unreadable,
  opts: { refuseDropping?: boolean } = {},
): Promise<StorageFinding[]> {
  const { jsm } = await jetStreamOf(nc);
  const { projectorCreatedOnEvents, heartbeatsRemoved, changed } = await provisionRegistry(nc, jsm, names, limits, opts);
  if (heartbeatsRemoved) log.info({ stream: names.heartbeatsStream }, "removed the heartbeats stream an earlier version kept: heartbeats are folded in memory and stored only as changes");
  const emptied = await emptiedBuckets(jsm, names);
  if (projectorCreatedOnEvents || emptied.length > 0) {
    // A first start on old events, or buckets purged or lost: the stream explains them.
    const rebuilt = await rebuildBuckets(nc, names, log, unreadable);
    log.info({ ...rebuilt, emptied }, "projected the events already in the stream");
  }
  return changed;
}

/** Runs `prepare` again whenever the connection comes back. */
export function prepareOnReconnect(nc: NatsConnection, prepare: () => Promise<unknown>, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== "reconnect") continue;
      await prepare().catch((err) => log.error({ err }, "could not provision streams after reconnecting; retrying on the next reconnect"));
    }
  })();
}

/** The last change found by the storage guard. */
export type StorageChange = StorageFinding & { at: string; restored: boolean };

export type StorageGuard = {
  /** Checks now (it checks every `intervalMs`). */
  check(): Promise<void>;
  /** Changes found since start (each stream found changed at a check counts once), and the last one. */
  status(): { changes: number; lastChange?: StorageChange };
  /** Changes by stream, for the metrics. */
  counts(): Record<string, number>;
  stop(): void;
};

/**
 * Checks the registry's streams and buckets on a timer (REGISTRY_STORAGE_CHECK_MS): any client
 * of an open server may change or delete them. Each change is logged and counted, and the
 * registry's configuration restored (none of the registry's own settings drops anything); an
 * event stream that is gone is not created again (the buckets would no longer be explained by
 * it), and rebuilds refuse to run on a configuration that drops history (rebuild.ts).
 */
export function guardStorage(deps: { nc: NatsConnection; names: Names; limits: StreamLimits; log: Logger; unreadable: Unreadable; intervalMs: number }): StorageGuard {
  const { nc, names, limits, log } = deps;
  const byStream: Record<string, number> = {};
  let changes = 0;
  let lastChange: StorageChange | undefined;

  async function check(): Promise<void> {
    const { jsm } = await jetStreamOf(nc);
    const findings = await storageFindings(jsm, names, limits);
    if (findings.length === 0) return;
    let restored = true;
    try {
      await prepareStorage(nc, names, limits, log, deps.unreadable);
    } catch (err) {
      restored = false;
      log.error({ err }, "could not restore the registry's streams and buckets");
    }
    const at = new Date().toISOString();
    for (const f of findings) {
      changes++;
      byStream[f.stream] = (byStream[f.stream] ?? 0) + 1;
      lastChange = { ...f, at, restored };
      log.error(
        { stream: f.stream, missing: f.missing, fields: f.fields, dropsHistory: f.dropsHistory, restored },
        f.missing
          ? `${f.stream} is gone: deleted outside the registry${restored ? "; created again" : ""}`
          : `${f.stream} was reconfigured outside the registry${f.dropsHistory.length > 0 ? ", to drop history; rebuilds refuse to run while it is" : ""}${restored ? "; the registry's configuration is restored" : ""}`,
      );
    }
  }

  const ticker = everyTick(deps.intervalMs, check, log, "storage configuration check");
  return {
    check: ticker.runNow,
    status: () => ({ changes, ...(lastChange ? { lastChange } : {}) }),
    counts: () => ({ ...byStream }),
    stop: ticker.stop,
  };
}
