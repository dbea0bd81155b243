/**
 * Wires one registry process: event store, projector, read models, the service, and
 * the node side (this machine's agent, heartbeat ingest, liveness monitor). The adapters
 * never import each other; this is the one place that knows them all.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Service } from "@nats-io/services";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { namesFor, type Names } from "./contract/names.ts";
import type { Definition, Instance, Node } from "./contract/schemas.ts";
import { startNodeAgent, type NodeAgent } from "./agent/agent.ts";
import { nvidiaSmiProbe } from "./agent/gpus.ts";
import { configurationWarning, resolveIdentity } from "./agent/identity.ts";
import { systemUsageProbe } from "./agent/usage.ts";
import { registryCommands } from "./commands/registryCommands.ts";
import { natsEventStore } from "./eventstore/eventStore.ts";
import { heartbeatIngest } from "./liveness/heartbeatIngest.ts";
import { livenessMonitor } from "./liveness/livenessMonitor.ts";
import { provision } from "./nats/provision.ts";
import { kvWriter } from "./projector/kvWriter.ts";
import { projector } from "./projector/projector.ts";
import { InstancesView } from "./readmodels/instances.ts";
import { KvMirror } from "./nats/kvMirror.ts";
import { nodeIdOfUrl, registryQueries } from "./readmodels/registryQueries.ts";
import { SERVICE_NAME, startService } from "./service/service.ts";
import { healthChecker, type HealthChecker } from "./health/checker.ts";
import { leases as startLeases } from "./health/leases.ts";
import { membership as startMembership } from "./health/membership.ts";
import { nodeInstances } from "./health/nodeInstances.ts";
import { instanceKey } from "./contract/ids.ts";
import type { Instance as InstanceT } from "./contract/schemas.ts";

export const VERSION = "0.1.0";

export type Registry = {
  names: Names;
  service: Service;
  agent: NodeAgent;
  commands: ReturnType<typeof registryCommands>;
  /** The live registry processes (micro service ids) this one splits checks and leases with. */
  members(): string[];
  /** Stops answering, then stops following streams. The connection is the caller's. */
  stop(): Promise<void>;
};

async function jetStreamOf(nc: NatsConnection) {
  const jsm = await jetstreamManager(nc).catch((err: Error) => {
    throw new Error(`JetStream is not available on the NATS server at ${nc.getServer()} (${err.message}); run nats-server with -js, or jetstream {} in its config`, { cause: err });
  });
  return { js: jetstream(nc), jsm };
}

/** This machine's node agent: identity, the one configuration warning, heartbeats. */
async function startAgent(nc: NatsConnection, config: Config, log: Logger): Promise<NodeAgent> {
  const names = namesFor(config.prefix);
  const identity = await resolveIdentity(config);
  const warning = configurationWarning(identity);
  if (warning) log.warn({ node: identity.id, url: identity.url }, warning);
  return startNodeAgent({
    nc,
    names,
    identity,
    usage: systemUsageProbe(config.dataDir),
    gpus: nvidiaSmiProbe(identity.url),
    intervalMs: config.heartbeatIntervalMs,
    log,
  });
}

/**
 * The checks a node agent runs: those of the instances that name its node's URL. The
 * outcome goes to the registry as a request (`instance.checked`), like any other client's.
 */
function nodeAgentChecks(
  nc: NatsConnection,
  names: Names,
  agent: NodeAgent,
  all: () => Iterable<InstanceT>,
  current: (id: string) => InstanceT | undefined,
  log: Logger,
): HealthChecker {
  return healthChecker({
    assigned: function* () {
      for (const i of all()) if (i.check && i.nodeUrl === agent.identity.url) yield i;
    },
    current,
    report: async (r) => {
      const reply = await nc.request(`${names.prefix}.instance.checked`, JSON.stringify({ ...r, checkedBy: `node ${agent.identity.id}` }), { timeout: 5000 });
      const code = reply.headers?.get("Nats-Service-Error-Code");
      if (code) throw new Error(`instance.checked answered ${code}: ${reply.headers?.get("Nats-Service-Error")}`);
    },
    log,
  });
}

/**
 * The node agent alone, for machines that host services but run no registry
 * (`registry agent`): heartbeats, and the checks of the instances that name this node.
 */
export async function startStandaloneAgent(nc: NatsConnection, config: Config, log: Logger): Promise<{ stop(): Promise<void> }> {
  const names = namesFor(config.prefix);
  const { js, jsm } = await jetStreamOf(nc);
  const agent = await startAgent(nc, config, log);
  const mirror = new KvMirror<InstanceT>(js, jsm, names.buckets.instance, log);
  const instances = new InstancesView(mirror);
  await mirror.start();
  const checks = nodeAgentChecks(nc, names, agent, () => instances.all(), (id) => instances.get(id), log);
  return {
    async stop() {
      agent.stop();
      checks.stop();
      mirror.stop();
    },
  };
}

export async function startRegistry(nc: NatsConnection, config: Config, log: Logger): Promise<Registry> {
  const names = namesFor(config.prefix);
  const { js, jsm } = await jetStreamOf(nc);
  await provision(nc, jsm, names);

  const store = natsEventStore(js, jsm, names.eventsStream);
  const writer = kvWriter(js, jsm);
  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log);
  const instanceMirror = new KvMirror<Instance>(js, jsm, names.buckets.instance, log);
  const nodes = new KvMirror<Node>(js, jsm, names.buckets.node, log);
  const mirrors = { definition: definitions, instance: instanceMirror, node: nodes } as const;
  const proj = projector({ js, names, writer, log, knownEntry: (bucket, key) => mirrors[bucket].entry(key) ?? null });
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

  const ingest = heartbeatIngest({ js, names, nodes, writer, commands, offlineAfterMs: config.offlineAfterMs, log });
  void ingest.run();
  const liveness = livenessMonitor({ nodes, commands, offlineAfterMs: config.offlineAfterMs, tickMs: Math.min(config.heartbeatIntervalMs, 1000), log });
  const agent = await startAgent(nc, config, log);

  const queries = registryQueries({ definitions, instances, nodes, selfNodeId: agent.identity.id });

  // Health: leases and node-following instances are each handled by one live registry
  // process (rendezvous on the instance id); active checks by the instance's node agent,
  // or by one registry process when it names no known node.
  let serviceId = "starting";
  const members = startMembership({ nc, service: SERVICE_NAME, selfId: () => serviceId, intervalMs: 1000, log });
  const owns = (id: string) => members.owns(id);
  const leaseKeeper = startLeases({
    instances: { get: (id) => instances.get(id), all: () => instances.all(), sync: () => instances.sync() },
    commands,
    touch: async (instance, at) => {
      await writer.update(names.buckets.instance, instanceKey(instance.slug, instance.id), (stored) => {
        const current = stored as InstanceT;
        return current.lastHeartbeat && Date.parse(current.lastHeartbeat) >= Date.parse(at) ? null : { ...current, lastHeartbeat: at };
      });
    },
    owns,
    protection: { share: config.expiryProtectionShare, windowMs: config.expiryProtectionWindowMs },
    tickMs: config.healthTickMs,
    log,
  });
  const followers = nodeInstances({ instances: () => instances.all(), nodes: () => nodes.values(), owns, commands, tickMs: config.healthTickMs, log });
  const knownNodeUrls = () => new Set([...nodes.values()].map((n) => n.url));
  const replicaChecks = healthChecker({
    assigned: function* () {
      const nodeUrls = knownNodeUrls();
      for (const i of instances.all()) if (i.check && (i.nodeUrl === undefined || !nodeUrls.has(i.nodeUrl)) && owns(i.id)) yield i;
    },
    current: (id) => instances.get(id),
    report: (r) => commands.recordCheck({ ...r, checkedBy: `registry ${serviceId}` }, {}).then(() => undefined),
    log,
  });
  const agentChecks = nodeAgentChecks(nc, names, agent, () => instances.all(), (id) => instances.get(id), log);

  const service = await startService({
    nc,
    names,
    api: { ...commands, ...queries, renewLease: leaseKeeper.renewLease, healthStatus: leaseKeeper.healthStatus },
    log,
    version: VERSION,
    maxRequestBytes: config.maxRequestBytes,
    stats: async () => ({ expiryProtection: leaseKeeper.lastProtection() ?? null }),
  });
  serviceId = service.info().id;
  await members.refresh();
  log.info(
    { prefix: names.prefix, stream: names.eventsStream, node: agent.identity.id, instances: instanceMirror.size, definitions: definitions.size, nodes: nodes.size },
    "registry started",
  );

  return {
    names,
    service,
    agent,
    commands,
    members: () => members.members(),
    async stop() {
      await service.stop();
      agent.stop();
      liveness.stop();
      for (const s of [members, leaseKeeper, followers, replicaChecks, agentChecks]) s.stop();
      await Promise.all([proj.stop(), ingest.stop()]);
      for (const m of [definitions, instanceMirror, nodes]) m.stop();
    },
  };
}
