/**
 * Wires one registry process: event store, projector, read models, the service, the node
 * side (this machine's agent, heartbeat ingest, liveness monitor) and instance health. The
 * adapters never import each other; this and nodeAgent.ts are the places that know them.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Service } from "@nats-io/services";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { namesFor, type Names } from "./contract/names.ts";
import type { Definition, Instance, Node } from "./contract/schemas.ts";
import type { NodeAgent } from "./agent/agent.ts";
import { nodeAgentChecks, startAgent } from "./nodeAgent.ts";
import { jetStreamOf } from "./nats/connect.ts";
import { registryCommands } from "./commands/registryCommands.ts";
import { natsEventStore } from "./eventstore/eventStore.ts";
import { heartbeatIngest } from "./liveness/heartbeatIngest.ts";
import { livenessMonitor } from "./liveness/livenessMonitor.ts";
import { provision } from "./nats/provision.ts";
import { kvWriter } from "./projector/kvWriter.ts";
import { projector } from "./projector/projector.ts";
import { emptiedBuckets, rebuildProjections } from "./projector/rebuild.ts";
import { readDefinition, readInstance, readNode } from "./contract/readers.ts";
import { unreadableCounter, type Unreadable } from "./unreadable.ts";
import { streamCapacity, type Capacity } from "./eventstore/capacity.ts";
import { InstancesView } from "./readmodels/instances.ts";
import { KvMirror } from "./nats/kvMirror.ts";
import { nodeIdOfUrl, registryQueries } from "./readmodels/registryQueries.ts";
import { SERVICE_NAME, startService } from "./service/service.ts";
import { healthChecker } from "./health/checker.ts";
import { leases as startLeases } from "./health/leases.ts";
import { membership as startMembership } from "./health/membership.ts";
import { nodeInstances } from "./health/nodeInstances.ts";
import { instanceKey } from "./contract/ids.ts";

export const VERSION = "0.1.0";

export type Registry = {
  names: Names;
  service: Service;
  agent: NodeAgent;
  commands: ReturnType<typeof registryCommands>;
  /** The event stream's size against REGISTRY_EVENTS_MAX_BYTES (checked every 5 s; `refresh()` checks now). */
  capacity: Capacity;
  /** The live registry processes (micro service ids) this one splits checks and leases with. */
  members(): string[];
  /** Stops answering, then stops following streams. The connection is the caller's. */
  stop(): Promise<void>;
};


/**
 * Instance health in a registry process. Leases and instances following their node are each
 * handled by one live registry process (rendezvous hashing on the instance id over the
 * members that answer `$SRV.PING`); active checks by the node agent of the node an instance
 * names, or else by one registry process.
 */
function startHealth(deps: {
  nc: NatsConnection;
  names: Names;
  writer: ReturnType<typeof kvWriter>;
  instances: InstancesView;
  nodes: KvMirror<Node>;
  commands: ReturnType<typeof registryCommands>;
  agent: NodeAgent;
  config: Config;
  log: Logger;
  serviceId: () => string;
}) {
  const { nc, names, writer, instances, nodes, commands, agent, config, log } = deps;
  const members = startMembership({ nc, service: SERVICE_NAME, selfId: deps.serviceId, intervalMs: 1000, log });
  const owns = (id: string) => members.owns(id);
  const leaseKeeper = startLeases({
    instances: { get: (id) => instances.get(id), all: () => instances.all(), sync: () => instances.sync() },
    commands,
    touch: async (instance, at) => {
      await writer.update(names.buckets.instance, instanceKey(instance.slug, instance.id), (stored) => {
        const current = stored as Instance;
        return current.lastHeartbeat && Date.parse(current.lastHeartbeat) >= Date.parse(at) ? null : { ...current, lastHeartbeat: at };
      });
    },
    owns,
    protection: { share: config.expiryProtectionShare, windowMs: config.expiryProtectionWindowMs },
    tickMs: config.healthTickMs,
    log,
  });
  const followers = nodeInstances({ instances: () => instances.all(), nodes: () => nodes.values(), owns, commands, tickMs: config.healthTickMs, log });
  const replicaChecks = healthChecker({
    assigned: function* () {
      const nodeUrls = new Set([...nodes.values()].map((n) => n.url));
      for (const i of instances.all()) if (i.check && (i.nodeUrl === undefined || !nodeUrls.has(i.nodeUrl)) && owns(i.id)) yield i;
    },
    current: (id) => instances.get(id),
    report: (r) => commands.recordCheck({ ...r, checkedBy: `registry ${deps.serviceId()}` }, {}).then(() => undefined),
    log,
  });
  const agentChecks = nodeAgentChecks(nc, names, agent, () => instances.all(), (id) => instances.get(id), log);
  return {
    members,
    leases: leaseKeeper,
    stop() {
      for (const s of [members, leaseKeeper, followers, replicaChecks, agentChecks]) s.stop();
    },
  };
}

/** The event store and the KV writer of a process, both reading what they find as untrusted. */
function projectionPorts(js: JetStreamClient, jsm: JetStreamManager, names: Names, unreadable: Unreadable, capacity?: Capacity) {
  const entryReaders: Record<string, (value: unknown, key: string) => { ok: boolean }> = {
    [names.buckets.definition]: readDefinition,
    [names.buckets.instance]: readInstance,
    [names.buckets.node]: readNode,
  };
  return {
    store: natsEventStore(js, jsm, names.eventsStream, { unreadable, ...(capacity ? { capacity } : {}) }),
    writer: kvWriter(js, jsm, (bucket, key, value) => entryReaders[bucket]?.(value, key).ok ?? false),
  };
}

/** `registry rebuild`, and a start on buckets that lost their entries: the buckets rebuilt in place from the stream. */
export async function rebuildBuckets(nc: NatsConnection, names: Names, log: Logger, unreadable = unreadableCounter(log)) {
  const { js, jsm } = await jetStreamOf(nc);
  const { store, writer } = projectionPorts(js, jsm, names, unreadable);
  return rebuildProjections({ js, jsm, names, store, writer, unreadable, log });
}

/**
 * Brings NATS to what the registry needs, at start and after every reconnect (a restarted
 * nats-server has lost the memory-stored heartbeats stream; a lost store, everything): the
 * streams, consumers and buckets, then the buckets rebuilt when they cannot be trusted.
 */
async function prepare(nc: NatsConnection, jsm: JetStreamManager, names: Names, config: Config, log: Logger, unreadable: Unreadable): Promise<void> {
  const heartbeatsLost = !(await jsm.streams.info(names.heartbeatsStream).then(() => true, () => false));
  const { projectorCreatedOnEvents } = await provision(nc, jsm, names, config);
  if (heartbeatsLost) log.info({ stream: names.heartbeatsStream }, "heartbeats stream created");
  const emptied = await emptiedBuckets(jsm, names);
  if (projectorCreatedOnEvents || emptied.length > 0) {
    // A first start on old events, or buckets purged or lost: the stream explains them.
    const rebuilt = await rebuildBuckets(nc, names, log, unreadable);
    log.info({ ...rebuilt, emptied }, "projected the events already in the stream");
  }
}

/** Runs `prepare` again whenever the connection comes back. */
function prepareOnReconnect(nc: NatsConnection, prepareAgain: () => Promise<void>, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== "reconnect") continue;
      await prepareAgain().catch((err) => log.error({ err }, "could not provision streams after reconnecting; retrying on the next reconnect"));
    }
  })();
}

export async function startRegistry(nc: NatsConnection, config: Config, log: Logger): Promise<Registry> {
  const names = namesFor(config.prefix);
  const { js, jsm } = await jetStreamOf(nc);
  const unreadable = unreadableCounter(log);
  await prepare(nc, jsm, names, config, log, unreadable);
  prepareOnReconnect(nc, () => prepare(nc, jsm, names, config, log, unreadable), log);
  const capacity = streamCapacity({ jsm, stream: names.eventsStream, maxBytes: config.eventsMaxBytes, tickMs: 5000, log });
  await capacity.refresh();
  const { store, writer } = projectionPorts(js, jsm, names, unreadable, capacity);

  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log, { read: readDefinition, unreadable });
  const instanceMirror = new KvMirror<Instance>(js, jsm, names.buckets.instance, log, { read: readInstance, unreadable });
  const nodes = new KvMirror<Node>(js, jsm, names.buckets.node, log, { read: readNode, unreadable });
  const mirrors = { definition: definitions, instance: instanceMirror, node: nodes } as const;
  const proj = projector({ js, names, writer, log, unreadable, knownEntry: (bucket, key) => mirrors[bucket].entry(key) ?? null });
  void proj.run();
  const instances = new InstancesView(instanceMirror);
  await Promise.all([definitions.start(), instanceMirror.start(), nodes.start()]);

  const commands = registryCommands({
    store,
    names,
    project: proj.project,
    lookups: {
      syncInstances: () => instances.sync(),
      syncNodes: () => nodes.sync(),
      instanceIdOfUrl: (url) => instances.idOfUrl(url),
      instanceState: (id) => {
        const entry = instances.entry(id);
        return entry ? { state: entry.value, version: entry.version } : { state: null, version: 0 };
      },
      nodeIdOfUrl: (url) => nodeIdOfUrl(nodes, url),
    },
  });

  const ingest = heartbeatIngest({ js, names, nodes, writer, commands, offlineAfterMs: config.offlineAfterMs, unreadable, log });
  void ingest.run();
  const liveness = livenessMonitor({ nodes, commands, offlineAfterMs: config.offlineAfterMs, tickMs: Math.min(config.heartbeatIntervalMs, 1000), log });
  const agent = await startAgent(nc, config, log);

  const queries = registryQueries({ definitions, instances, nodes, selfNodeId: agent.identity.id });

  let serviceId = "starting";
  const health = startHealth({ nc, names, writer, instances, nodes, commands, agent, config, log, serviceId: () => serviceId });

  const service = await startService({
    nc,
    names,
    api: {
      ...commands,
      ...queries,
      renewLease: health.leases.renewLease,
      healthStatus: async () => ({ ...(await health.leases.healthStatus()), events: capacity.usage(), unreadable: unreadable.counts() }),
    },
    log,
    version: VERSION,
    maxRequestBytes: config.maxRequestBytes,
    stats: async () => ({ expiryProtection: health.leases.lastProtection() ?? null, events: capacity.usage(), unreadable: unreadable.counts() }),
  });
  serviceId = service.info().id;
  await health.members.refresh();
  log.info(
    { prefix: names.prefix, stream: names.eventsStream, node: agent.identity.id, instances: instanceMirror.size, definitions: definitions.size, nodes: nodes.size },
    "registry started",
  );

  return {
    names,
    service,
    agent,
    commands,
    capacity,
    members: () => health.members.members(),
    async stop() {
      await service.stop();
      agent.stop();
      liveness.stop();
      health.stop();
      capacity.stop();
      await Promise.all([proj.stop(), ingest.stop()]);
      for (const m of [definitions, instanceMirror, nodes]) m.stop();
    },
  };
}
