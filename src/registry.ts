/**
 * Wires one registry process: event store, projector, read models, the service, the node
 * side (this machine's agent, heartbeat ingest, liveness monitor) and instance health. The
 * adapters never import each other; this and nodeAgent.ts are the places that know them.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Service } from "@nats-io/services";
import type { Logger } from "pino";
import { eventsReserveBytesOf, type Config } from "./config.ts";
import { VERSION } from "./contract/version.ts";
import { namesFor, type Names } from "./contract/names.ts";
import type { Definition, Instance, Node } from "./contract/schemas.ts";
import type { NodeAgent } from "./agent/agent.ts";
import { nodeAgentChecks, startAgent } from "./nodeAgent.ts";
import { jetStreamOf } from "./nats/connect.ts";
import { instanceIdForUrl, registryCommands } from "./commands/registryCommands.ts";
import { backgroundCommands } from "./commands/backgroundCommands.ts";
import { projectInBackground } from "./commands/writePath.ts";
import { heartbeatIngest } from "./liveness/heartbeatIngest.ts";
import { nodeUrlIndex } from "./readmodels/nodeUrls.ts";
import { livenessMonitor } from "./liveness/livenessMonitor.ts";
import { PROJECTOR_DURABLE, projector } from "./projector/projector.ts";
import type { EventStore } from "./eventstore/eventStore.ts";
import { readDefinition, readInstance, readNode } from "./contract/readers.ts";
import { unreadableCounter } from "./unreadable.ts";
import { authorize } from "./access/authorizer.ts";
import { callerOfBearer, loadPolicy, nodeUrlBindings, policyWarnings, watchView } from "./access/policy.ts";
import { policyReloads } from "./access/policyReloads.ts";
import { guardStorage, prepareOnReconnect, prepareStorage, storagePorts } from "./storage.ts";
import { streamCapacity, type Capacity } from "./eventstore/capacity.ts";
import { readHistory } from "./eventstore/history.ts";
import { boundedTimeTravel } from "./eventstore/timeTravel.ts";
import { telemetryWrites, type TelemetryWrites } from "./projector/telemetryWrites.ts";
import { compactInstance, interner } from "./readmodels/compact.ts";
import { startHttp } from "./http/server.ts";
import { changeFeed } from "./http/feed.ts";
import { WatcherBudget } from "./http/watchers.ts";
import { registryMetrics } from "./metrics/metrics.ts";
import { InstancesView } from "./readmodels/instances.ts";
import { KvMirror } from "./nats/kvMirror.ts";
import { nodeIdOfUrl, registryQueries } from "./readmodels/registryQueries.ts";
import { SERVICE_NAME, startService } from "./service/service.ts";
import { healthChecker } from "./health/checker.ts";
import { leases as startLeases } from "./health/leases.ts";
import { membership as startMembership } from "./health/membership.ts";
import { nodeInstances } from "./health/nodeInstances.ts";
import { ownHeartbeatFreshMs } from "./domain/node.ts";

export type Registry = {
  names: Names;
  service: Service;
  /** Where the HTTP face answers (REGISTRY_HTTP_ADDR), when it is on. */
  httpUrl: string | undefined;
  agent: NodeAgent;
  commands: ReturnType<typeof registryCommands>;
  /** The commands of the registry's own loops (heartbeats, liveness, leases, nodes). */
  background: ReturnType<typeof backgroundCommands>;
  /** The event stream's size against REGISTRY_EVENTS_MAX_BYTES (checked every second, and before each caller's write near it; `refresh()` checks now). */
  capacity: Capacity;
  /** Reads REGISTRY_POLICY again (SIGHUP, `policy.reload`); a policy that cannot be read leaves the last one in force, and the error says why. */
  reloadPolicy(): Promise<{ accounts: number }>;
  /** Checks the configuration of the registry's streams and buckets now (it is checked every REGISTRY_STORAGE_CHECK_MS). */
  checkStorage(): Promise<void>;
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
  telemetry: TelemetryWrites;
  instances: InstancesView;
  nodes: KvMirror<Node>;
  commands: ReturnType<typeof registryCommands>;
  background: ReturnType<typeof backgroundCommands>;
  agent: NodeAgent;
  config: Config;
  log: Logger;
  clock: () => Date;
  serviceId: () => string;
}) {
  const { nc, names, telemetry, instances, nodes, commands, background, agent, config, log } = deps;
  const members = startMembership({ nc, service: SERVICE_NAME, selfId: deps.serviceId, intervalMs: 1000, log });
  const owns = (id: string) => members.owns(id);
  const leaseKeeper = startLeases({
    instances: { get: (id) => instances.get(id), leased: () => instances.leased(), sync: () => instances.sync() },
    commands: background,
    touch: async (instance, at) => {
      await telemetry.renewal(instance, at);
    },
    owns,
    protection: { share: config.expiryProtectionShare, windowMs: config.expiryProtectionWindowMs },
    tickMs: config.healthTickMs,
    log,
    clock: deps.clock,
  });
  const followers = nodeInstances({ instances: () => instances.onNodes(), nodes: () => nodes.values(), owns, commands: background, tickMs: config.healthTickMs, log });
  const replicaChecks = healthChecker({
    assigned: function* () {
      const nodeUrls = new Set([...nodes.values()].map((n) => n.url));
      for (const i of instances.checked()) if (i.check && (i.nodeUrl === undefined || !nodeUrls.has(i.nodeUrl)) && owns(i.id)) yield i;
    },
    current: (id) => instances.get(id),
    report: (r) => commands.recordCheck({ ...r, checkedBy: `registry ${deps.serviceId()}` }, {}).then(() => undefined),
    log,
  });
  const agentChecks = nodeAgentChecks(nc, names, agent, () => instances.checked(), (id) => instances.get(id), log);
  return {
    members,
    leases: leaseKeeper,
    stop() {
      for (const s of [members, leaseKeeper, followers, replicaChecks, agentChecks]) s.stop();
    },
  };
}

/** Room left in a reply for list items: the server's max_payload less what the envelope and headers take. */
const replyBudgetBytes = (nc: NatsConnection) => (nc.info?.max_payload ?? 1024 * 1024) - 4096;

/** Starts one registry process on `nc`; `clock` is the time every decision is taken at (tests give their own). */
export async function startRegistry(nc: NatsConnection, config: Config, log: Logger, clock: () => Date = () => new Date()): Promise<Registry> {
  const names = namesFor(config.prefix);
  let policy = config.policyFile ? await loadPolicy(config.policyFile) : undefined;
  for (const warning of policy ? policyWarnings(policy) : []) log.warn({ file: config.policyFile }, warning);
  if (!policy) log.warn("running without authentication: no REGISTRY_POLICY, so every caller may do everything (fine on a loopback server; secure/ has a deployment's layout)");
  const { js, jsm } = await jetStreamOf(nc);
  const unreadable = unreadableCounter(log);
  const upgraded = await prepareStorage(nc, names, config, log, unreadable, { refuseDropping: true });
  for (const f of upgraded) if (!f.missing) log.info({ stream: f.stream, fields: f.fields }, "brought to this version's configuration");
  prepareOnReconnect(nc, () => prepareStorage(nc, names, config, log, unreadable), log);
  const storageGuard = guardStorage({ nc, names, limits: config, log, unreadable, intervalMs: config.storageCheckMs });
  const capacity = streamCapacity({ jsm, stream: names.eventsStream, maxBytes: config.eventsMaxBytes, reserveBytes: eventsReserveBytesOf(config), tickMs: 1000, log });
  await capacity.refresh();
  const ports = storagePorts(nc, js, names, unreadable, capacity);
  const { writer } = ports;
  const telemetry = telemetryWrites(writer, names);
  // Read at each scrape; what they read is started below.
  const metrics = registryMetrics({
    instances: () => instances.all(),
    nodes: () => nodes.values(),
    projectionPending: async () => {
      const info = await jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE);
      return info.num_pending + info.num_ack_pending;
    },
    heartbeats: () => ({ ...ingest.counts(), dropped: ingest.stream().dropped }),
    unreadable: () => unreadable.counts(),
    protection: () => health.leases.lastProtection(),
    watchers: () => watchers.counts(),
    timeTravel: () => timeTravel.counts(),
    storageChanges: () => storageGuard.counts(),
  });
  const timeTravel = boundedTimeTravel({ js, names, unreadable }, { maxConcurrent: config.timeTravelConcurrency, timeoutMs: config.timeTravelTimeoutMs });
  const watchers = new WatcherBudget({ maxWatchers: config.watchersMax, bufferBytes: config.watchBufferBytes, totalBytes: config.watchTotalBytes });
  const counted = (inner: EventStore): EventStore => ({
    ...inner,
    async append(subject, envelope, expectedSeq, dedupeId) {
      const appended = await inner.append(subject, envelope, expectedSeq, dedupeId);
      if (!appended.duplicate) metrics.eventAppended(envelope.type);
      return appended;
    },
  });
  const store = counted(ports.store);

  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log, { read: readDefinition, unreadable });
  const pool = interner();
  const readCompactInstance = (value: unknown, key: string) => {
    const read = readInstance(value, key);
    return read.ok ? { ok: true as const, value: compactInstance(read.value, pool) } : read;
  };
  const instanceMirror = new KvMirror<Instance>(js, jsm, names.buckets.instance, log, { read: readCompactInstance, unreadable });
  const nodes = new KvMirror<Node>(js, jsm, names.buckets.node, log, { read: readNode, unreadable });
  const mirrors = { definition: definitions, instance: instanceMirror, node: nodes } as const;
  const proj = projector({
    js,
    names,
    writer,
    log,
    unreadable,
    knownEntries: { definition: (key) => definitions.entry(key) ?? null, instance: (key) => instanceMirror.entry(key) ?? null, node: (key) => nodes.entry(key) ?? null },
    whenReflected: (bucket, key, version, withinMs) => mirrors[bucket].whenReflects(key, version, withinMs),
  });
  void proj.run();
  const instances = new InstancesView(instanceMirror);
  // Before the mirror starts: it sees every entry, and says which URLs nodes written before URLs were unique share.
  const nodeUrls = nodeUrlIndex(nodes, (url, ids) =>
    log.warn({ url, nodes: ids }, "nodes share a URL (written before a node's URL was its own): instances naming it follow either; remove all but one (registry node rm)"),
  );
  await Promise.all([definitions.start(), instanceMirror.start(), nodes.start()]);

  const writeDeps = {
    clock,
    store,
    names,
    project: config.replyAfter === "append" ? projectInBackground(proj.project, (err, seq) => log.warn({ err, seq }, "projection failed; the projector consumer will make it")) : proj.project,
    lookups: {
      // Answering before projecting (REGISTRY_REPLY_AFTER=append), a barrier on the bucket cannot
      // cover the writes answered just before anyway; the read model as it stands is what it gets.
      syncInstances: config.replyAfter === "append" ? () => Promise.resolve() : () => instances.sync(),
      syncNodes: () => nodes.sync(),
      instanceIdOfUrl: (url: string) => instances.idOfUrl(url),
      instanceState: (id: string) => {
        const entry = instances.entry(id);
        return entry ? { state: entry.value, version: entry.version } : { state: null, version: 0 };
      },
      nodeIdOfUrl: (url: string) => nodeIdOfUrl(nodes, url),
    },
  };
  const commands = registryCommands(writeDeps);
  // The registry's own loops write on past REGISTRY_EVENTS_MAX_BYTES, into the reserve: liveness must not stop with callers.
  const ownWrites = { ...writeDeps, store: counted(ports.ownStore) };
  const background = backgroundCommands(ownWrites);
  const ownCommands = registryCommands(ownWrites);

  const ingest = heartbeatIngest({
    js,
    jsm,
    names,
    maxNodes: config.heartbeatSubjects,
    checkMs: config.heartbeatIntervalMs,
    nodes,
    nodesWithUrl: (url) => nodeUrls.withUrl(url),
    urlBindings: () => nodeUrlBindings(policy),
    foldHeartbeat: telemetry.heartbeat,
    commands: background,
    offlineAfterMs: config.offlineAfterMs,
    unreadable,
    log,
    clock,
  });
  void ingest.run();
  const agent = await startAgent(nc, config, log);
  const liveness = livenessMonitor({
    nodes,
    commands: background,
    offlineAfterMs: config.offlineAfterMs,
    tickMs: Math.min(config.heartbeatIntervalMs, 1000),
    stream: {
      latestStoredHeartbeat: (id) => ingest.latestStored(id),
      ownNodeId: () => agent.identity.id,
      ownFreshMs: ownHeartbeatFreshMs(config.offlineAfterMs, config.heartbeatIntervalMs),
    },
    log,
    clock,
  });

  const queries = registryQueries({
    definitions,
    instances,
    nodes,
    selfNodeId: agent.identity.id,
    replyBudgetBytes: () => replyBudgetBytes(nc),
    pastState: (asOf, signal) => timeTravel.stateAsOf(asOf, signal),
  });

  let serviceId = "starting";
  const health = startHealth({ nc, names, telemetry, instances, nodes, commands: ownCommands, background, agent, config, log, clock, serviceId: () => serviceId });

  async function reloadPolicy(): Promise<{ accounts: number }> {
    if (!config.policyFile) throw new Error("this process runs without REGISTRY_POLICY, so it has no policy to read");
    try {
      policy = await loadPolicy(config.policyFile);
    } catch (err) {
      log.error({ err }, "policy not reloaded; the last one stays in force");
      throw new Error(`${(err as Error).message}; the last policy stays in force`, { cause: err });
    }
    const accounts = Object.keys(policy.accounts).length;
    log.info({ file: config.policyFile, accounts }, "policy reloaded");
    for (const warning of policyWarnings(policy)) log.warn({ file: config.policyFile }, warning);
    return { accounts };
  }
  const reloads = policyReloads({ nc, subject: names.policyReloads, selfId: () => serviceId, members: () => health.members.members(), reload: reloadPolicy, log });

  const api = authorize(
    {
      ...commands,
      ...queries,
      renewLease: health.leases.renewLease,
      healthStatus: async () => ({ ...(await health.leases.healthStatus()), events: capacity.usage(), heartbeats: ingest.stream(), storage: storageGuard.status(), unreadable: unreadable.counts() }), // same for every caller
      history: (req, ctx) => readHistory({ js, names, unreadable }, req, ctx.readableSlugs),
      reloadPolicy: () => reloads.reloadEverywhere(),
    },
    () => policy,
    {
      sync: () => instances.sync(),
      slugOf: (id) => {
        const instance = instances.get(id);
        return instance === undefined ? undefined : (instance.slug ?? null);
      },
      idOfUrl: (url) => instances.idOfUrl(url),
      derivedId: instanceIdForUrl,
      nodeUrlOf: (id) => instances.get(id)?.nodeUrl,
    },
  );
  const service = await startService({
    nc,
    names,
    api,
    log,
    version: VERSION,
    maxRequestBytes: config.maxRequestBytes,
    stats: () => Promise.resolve({ expiryProtection: health.leases.lastProtection() ?? null, events: capacity.usage(), unreadable: unreadable.counts() }),
    observe: (operation, outcome, seconds) => metrics.observeRequest("nats", operation, outcome, seconds),
  });
  serviceId = service.info().id;
  // Not awaited: a ping gathers answers for up to half a second, and until it is in this process
  // checks every instance without an agent itself (checked twice at worst; a status changes once).
  void health.members.refresh();
  const http =
    config.httpAddr === "off"
      ? undefined
      : await startHttp({
          api,
          ...config.httpAddr,
          hosts: config.httpHosts,
          maxRequestBytes: config.maxRequestBytes,
          version: VERSION,
          log,
          authenticate: (authorization) => (policy ? callerOfBearer(policy, authorization) : undefined),
          ready: () => Promise.all([definitions.sync(), instances.sync(), nodes.sync()]).then(() => undefined),
          connected: () => !nc.isClosed(),
          observe: (operation, outcome, seconds) => metrics.observeRequest("http", operation, outcome, seconds),
          metrics: () => metrics.render(),
          watch: {
            feed: changeFeed({ js, eventsStream: names.eventsStream, eventSubjects: names.eventSubjects, definitions, instances: instanceMirror, nodes, unreadable, log }),
            viewOf: (caller) => watchView(policy, caller),
            budget: watchers,
          },
        }).catch(async (err: unknown) => {
          await service.stop();
          throw new Error(`the HTTP face cannot listen (${(err as Error).message}); set REGISTRY_HTTP_ADDR to a free host:port, or off`, { cause: err });
        });
  log.info(
    {
      prefix: names.prefix,
      stream: names.eventsStream,
      node: agent.identity.id,
      instances: instanceMirror.size,
      definitions: definitions.size,
      nodes: nodes.size,
      http: http?.url ?? "off",
    },
    "registry started",
  );

  return {
    names,
    service,
    httpUrl: http?.url,
    agent,
    commands,
    background,
    capacity,
    checkStorage: () => storageGuard.check(),
    members: () => health.members.members(),
    reloadPolicy,
    async stop() {
      await http?.stop();
      await service.stop();
      reloads.stop();
      agent.stop();
      liveness.stop();
      health.stop();
      capacity.stop();
      storageGuard.stop();
      await Promise.all([proj.stop(), ingest.stop()]);
      for (const m of [definitions, instanceMirror, nodes]) m.stop();
    },
  };
}
