/**
 * The composition root of one registry process: it builds the adapters and connects them,
 * and decides nothing itself. Storage (storage.ts), the read models (readModels.ts), where
 * the operations meet (operations.ts), instance health (health.ts) and this machine's agent
 * (nodeAgent.ts) each have a module; the adapters never import each other.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Service } from "@nats-io/services";
import type { Logger } from "pino";
import { eventsReserveBytesOf, type Config } from "../config.ts";
import { VERSION } from "../contract/version.ts";
import { namesFor, type Names } from "../contract/names.ts";
import type { NodeAgent } from "../agent/agent.ts";
import { instanceIdForUrl, registryCommands } from "../commands/registryCommands.ts";
import { backgroundCommands } from "../commands/backgroundCommands.ts";
import type { WritePathDeps } from "../commands/writePath.ts";
import { heartbeatIngest } from "../liveness/heartbeatIngest.ts";
import { livenessMonitor } from "../liveness/livenessMonitor.ts";
import { PROJECTOR_DURABLE, projector } from "../projector/projector.ts";
import { telemetryWrites } from "../projector/telemetryWrites.ts";
import { observedStore } from "../eventstore/eventStore.ts";
import { streamCapacity, type Capacity } from "../eventstore/capacity.ts";
import { readHistory } from "../eventstore/history.ts";
import { boundedTimeTravel } from "../eventstore/timeTravel.ts";
import { snapshotStore } from "../eventstore/snapshotStore.ts";
import { snapshotWriter } from "../eventstore/snapshotWriter.ts";
import { unreadableCounter } from "../unreadable.ts";
import { authorize } from "../access/authorizer.ts";
import { callerOfBearer, nodeUrlBindings, watchView } from "../access/policy.ts";
import { policyInForce } from "../access/policyInForce.ts";
import { policyReloads } from "../access/policyReloads.ts";
import { jetStreamOf } from "../nats/connect.ts";
import { startHttp } from "../http/server.ts";
import { changeFeed } from "../http/feed.ts";
import { WatcherBudget } from "../http/watchers.ts";
import { registryMetrics } from "../metrics/metrics.ts";
import { registryQueries } from "../readmodels/registryQueries.ts";
import { SERVICE_NAME, startService } from "../service/service.ts";
import { membership as startMembership } from "../health/membership.ts";
import { ownHeartbeatFreshMs } from "../domain/node.ts";
import { fillNodeIndexIfNeverWritten } from "../projector/nodeIndexFill.ts";
import { guardStorage, prepareOnReconnect, prepareStorage, storagePorts } from "./storage.ts";
import { startAgent } from "./nodeAgent.ts";
import { startDns, type DnsServer } from "../dns/dnsServer.ts";
import { dnsCatalog } from "./dns.ts";
import { readModels } from "./readModels.ts";
import { startHealth } from "./health.ts";
import { registryOperations } from "./operations.ts";
import { startingGate } from "./starting.ts";
import { HOLDS_EVERY_SLUG, slugScope } from "../domain/slugScope.ts";
import { partialApi, serveForwarded } from "../service/forwarding.ts";

export type Registry = {
  names: Names;
  service: Service;
  /** Where the HTTP face answers (REGISTRY_HTTP_ADDR), when it is on. */
  httpUrl: string | undefined;
  /** Where the DNS face answers (REGISTRY_DNS_ADDR), UDP and TCP, when it is on. */
  dnsAddr: { host: string; port: number } | undefined;
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
  /** The snapshot writer: `catchUp()` writes those due now (it looks every REGISTRY_SNAPSHOT_CHECK_MS). */
  snapshots: ReturnType<typeof snapshotWriter>;
  /** Stops answering, then stops following streams. The connection is the caller's. */
  stop(): Promise<void>;
};

/** Room left in a reply for list items: the server's max_payload less what the envelope and headers take. */
const replyBudgetBytes = (nc: NatsConnection) => (nc.info?.max_payload ?? 1024 * 1024) - 4096;

/** Starts one registry process on `nc`; `clock` is the time every decision is taken at (tests give their own). */
/** How long a stop waits for nats-server to have its unsubscribes. */
const STOP_FLUSH_MS = 2000;

export async function startRegistry(nc: NatsConnection, config: Config, log: Logger, clock: () => Date = () => new Date()): Promise<Registry> {
  const names = namesFor(config.prefix);
  const policy = await policyInForce(config.policyFile, log);
  const { js, jsm } = await jetStreamOf(nc);
  const unreadable = unreadableCounter(log);
  const upgraded = await prepareStorage(nc, names, config, log, unreadable, { refuseDropping: true });
  for (const f of upgraded) if (!f.missing) log.info({ stream: f.stream, fields: f.fields }, "brought to this version's configuration");
  prepareOnReconnect(nc, () => prepareStorage(nc, names, config, log, unreadable), log);
  const storageGuard = guardStorage({ nc, names, limits: config, log, unreadable, intervalMs: config.storageCheckMs });
  const capacity = streamCapacity({ jsm, stream: names.eventsStream, maxBytes: config.eventsMaxBytes, reserveBytes: eventsReserveBytesOf(config), tickMs: 1000, log });
  await capacity.refresh();
  const ports = storagePorts(nc, js, names, unreadable, capacity);
  const telemetry = telemetryWrites(ports.writer, names);
  const snapshots = snapshotStore({ nc, js, jsm, names, unreadable, log });
  // REGISTRY_SNAPSHOT_EVENTS=0: this process neither writes snapshots nor starts time travel from them.
  const timeTravel = boundedTimeTravel({ js, names, unreadable, ...(config.snapshots.everyEvents > 0 ? { snapshots } : {}) }, { maxConcurrent: config.timeTravelConcurrency, timeoutMs: config.timeTravelTimeoutMs });
  const watchers = new WatcherBudget({ maxWatchers: config.watchersMax, bufferBytes: config.watchBufferBytes, totalBytes: config.watchTotalBytes });
  const slugs = slugScope(config.slugs);
  const models = readModels({ js, jsm, names, log, unreadable, slugs });
  const { definitions, instances, nodeMirror: nodes } = models;
  const started: { dns?: DnsServer; snapshots?: ReturnType<typeof snapshotWriter> } = {}; // the DNS face and the snapshot writer, once the rest is
  // Read at each scrape; what they read is started below.
  const metrics = registryMetrics({
    instances: () => instances.all(),
    nodes: () => nodes.values(),
    projectionPending: async () => {
      const info = await jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE);
      return info.num_pending + info.num_ack_pending;
    },
    heartbeats: () => ingest.counts(),
    renewals: () => health.renewals.counts(),
    leaseSlugsHeard: () => health.renewals.slugsHeard(),
    unreadable: () => unreadable.counts(),
    protection: () => health.leases.lastProtection(),
    watchers: () => watchers.counts(),
    timeTravel: () => timeTravel.counts(),
    snapshots: () => started.snapshots?.counts(),
    storageChanges: () => storageGuard.counts(),
    dns: () => started.dns?.counts() ?? {},
  });

  // The HTTP face answers from the first moment: /readyz says how far loading is, the operations wait for the gate.
  const gate = startingGate(log);
  const http =
    config.httpAddr === "off"
      ? undefined
      : await startHttp({
          api: gate.api,
          ...config.httpAddr,
          hosts: config.httpHosts,
          maxRequestBytes: config.maxRequestBytes,
          version: VERSION,
          log,
          authenticate: (authorization) => {
            const current = policy.current();
            return current ? callerOfBearer(current, authorization) : undefined;
          },
          ready: () => (gate.isOpen() ? models.sync() : Promise.reject(new Error(gate.reason()))),
          connected: () => !nc.isClosed(),
          observe: (operation, outcome, seconds) => metrics.observeRequest("http", operation, outcome, seconds),
          metrics: () => metrics.render(),
          nodeIdOfUrl: (url) => models.nodes.idOfUrl(url),
          watch: {
            feed: changeFeed({ js, names, definitions, instances: models.instanceMirror, nodes, unreadable, log }),
            viewOf: (caller) => watchView(policy.current(), caller),
            budget: watchers,
            starting: () => (gate.isOpen() ? undefined : gate.reason()),
          },
        }).catch((err: unknown) => {
          throw new Error(`the HTTP face cannot listen (${(err as Error).message}); set REGISTRY_HTTP_ADDR to a free host:port, or off`, { cause: err });
        });
  /** A start that fails after the HTTP face listens closes it again. */
  const orStopHttp = async <T>(step: Promise<T>): Promise<T> => {
    try {
      return await step;
    } catch (err) {
      await http?.stop();
      throw err;
    }
  };
  const proj = projector({ js, names, writer: ports.writer, log, unreadable, knownEntries: models.knownEntries, whenReflected: models.whenReflected });
  // Beside the load, which it hardly slows (a few reads a snapshot): time travel's first answers
  // would otherwise check each snapshot of their chains against the stream (a first asOf at a million: 0.4 s more).
  if (config.snapshots.everyEvents > 0) void snapshots.warm().catch((err: unknown) => log.debug({ err }, "snapshots not followed yet (none written?); the first time travel tries again"));
  await orStopHttp(models.start(gate.progress));
  void models.instances.indexUrls(); // a slice at a time, while the rest starts (a registration before it is done finishes it)
  // The projector's catch-up after the load: it tells an event the write path projected by the
  // read model, and one still loading knows none, so each of a backlog (a burst the catch-up had
  // not finished before a restart) would be written again (a million-instance start took 34 s, not 20).
  void proj.run();
  void fillNodeIndexIfNeverWritten({ jsm, writer: ports.writer, names, instances: () => models.instanceMirror.entries(), log }).catch((err) =>
    log.warn({ err }, "could not fill the per-node index from the instances bucket; node agents may miss checks until `registry rebuild`"),
  );

  const writeDeps: WritePathDeps = {
    clock,
    store: observedStore(ports.store, (type) => metrics.eventAppended(type)),
    names,
    project: proj.project,
    replyAfter: config.replyAfter,
    projectionFailed: (err, seq) => log.warn({ err, seq }, "projection failed; the projector consumer will make it"),
    instances,
    nodes: models.nodes,
  };
  const commands = registryCommands(writeDeps);
  // The registry's own loops write on past REGISTRY_EVENTS_MAX_BYTES, into the reserve: liveness must not stop with callers.
  const ownWrites = { ...writeDeps, store: observedStore(ports.ownStore, (type) => metrics.eventAppended(type)) };
  const background = backgroundCommands(ownWrites);

  let serviceId = "starting";
  // The live registry processes: each node's heartbeats, and each instance's health, are one process's.
  const members = startMembership({ nc, service: SERVICE_NAME, selfId: () => serviceId, intervalMs: 1000, log, holdsEverySlug: slugs.all });
  const own: { node?: string } = {}; // the agent's node, once it has started
  const ingest = heartbeatIngest({
    nc,
    names,
    maxNodes: config.heartbeatSubjects,
    recordEveryMs: config.nodeRecordEveryMs,
    nodes,
    nodesWithUrl: (url) => models.nodeUrls.withUrl(url),
    urlBindings: () => nodeUrlBindings(policy.current()),
    foldHeartbeat: telemetry.heartbeat,
    commands: background,
    owns: (id) => members.owns(`node ${id}`),
    ownNodeId: () => own.node,
    unreadable,
    log,
    clock,
  });
  const agent = await orStopHttp(startAgent(nc, config, log));
  own.node = agent.identity.id;
  const liveness = livenessMonitor({
    nodes,
    commands: background,
    offlineAfterMs: config.offlineAfterMs,
    tickMs: Math.min(config.heartbeatIntervalMs, 1000),
    owns: (id) => members.owns(`node ${id}`),
    heard: {
      lastHeard: (id) => ingest.lastHeard(id),
      ownHeardAt: () => ingest.ownHeardAt(),
      ownFreshMs: ownHeartbeatFreshMs(config.offlineAfterMs, config.heartbeatIntervalMs),
    },
    log,
    clock,
  });

  const health = startHealth({ nc, names, telemetry, instances, nodes, members, commands: registryCommands(ownWrites), background, agent, config, log, clock, serviceId: () => serviceId });
  const reloads = policyReloads({ nc, subject: names.policyReloads, selfId: () => serviceId, members: () => members.members(), reload: policy.reload, log });

  const operations = registryOperations({
    commands,
    queries: registryQueries({
      definitions,
      instances,
      nodes,
      nodeIdOfUrl: models.nodes.idOfUrl,
      selfNode: agent.identity,
      replyBudgetBytes: () => replyBudgetBytes(nc),
      pastState: (asOf, scope, signal) => timeTravel.stateAsOf(asOf, scope, signal),
    }),
    leases: health.leases,
    history: (req, ctx) => readHistory({ js, names, unreadable }, req, ctx.readableSlugs),
    reloadPolicy: () => reloads.reloadEverywhere(),
    figures: () => ({ events: capacity.usage(), heartbeats: ingest.state(), storage: storageGuard.status(), unreadable: unreadable.counts() }),
  });
  const authorized = authorize(operations.api, policy.current, { instances, derivedId: instanceIdForUrl });
  // REGISTRY_SLUGS: what this process does not hold is answered by one that holds every slug, which serves what is forwarded.
  const holds = async (id: string) => (await instances.sync(), instances.get(id) !== undefined);
  const api = slugs.all ? authorized : partialApi(authorized, { nc, prefix: names.prefix, service: SERVICE_NAME, scope: slugs, holds });
  const forwarded = slugs.all ? serveForwarded({ nc, prefix: names.prefix, api: authorized, log, callersNamed: () => policy.current() !== undefined }) : undefined;
  const service = await orStopHttp(startService({
    nc,
    names,
    api,
    log,
    version: VERSION,
    maxRequestBytes: config.maxRequestBytes,
    slugs: slugs.all ? HOLDS_EVERY_SLUG : slugs.entries.join(","),
    stats: operations.stats,
    observe: (operation, outcome, seconds) => metrics.observeRequest("nats", operation, outcome, seconds),
  }));
  serviceId = service.info().id;
  gate.open(api);
  // One process at a time writes them (a lease); started once this one answers, not to slow its start.
  const snapshotter = snapshotWriter({ js, store: snapshots, names, unreadable, log, policy: config.snapshots, holder: `${agent.identity.id} ${serviceId}` });
  started.snapshots = snapshotter;
  // Not awaited: a ping gathers answers for up to half a second, and until it is in this process
  // checks every instance without an agent itself (checked twice at worst; a status changes once).
  void members.refresh();
  const dns = (started.dns =
    config.dnsAddr === "off"
      ? undefined
      : await startDns({ ...config.dnsAddr, settings: { domain: config.dnsDomain, ttl: config.dnsTtlSeconds, negativeTtl: config.dnsTtlSeconds }, catalog: dnsCatalog(config, instances, nodes), log }).catch(
          async (err: unknown) => {
            await http?.stop();
            await service.stop();
            throw new Error(`the DNS face cannot listen (${(err as Error).message}); set REGISTRY_DNS_ADDR to a free host:port, or off`, { cause: err });
          },
        ));
  log.info(
    {
      prefix: names.prefix,
      stream: names.eventsStream,
      node: agent.identity.id,
      instances: models.instanceMirror.size,
      definitions: definitions.size,
      nodes: nodes.size,
      http: http?.url ?? "off",
      dns: dns ? `${dns.host}:${dns.port} (${config.dnsDomain}.)` : "off",
    },
    "registry started",
  );

  let stopping: Promise<void> | undefined;
  return {
    names,
    service,
    httpUrl: http?.url,
    dnsAddr: dns && { host: dns.host, port: dns.port },
    agent,
    commands,
    background,
    capacity,
    checkStorage: () => storageGuard.check(),
    members: () => members.members(),
    snapshots: snapshotter,
    reloadPolicy: policy.reload,
    stop() {
      // Once: a second call waits for the first.
      return (stopping ??= (async () => {
        await dns?.stop();
        await http?.stop();
        await service.stop();
        // Drained and flushed: until nats-server has the unsubscribe, a partial process's forward
        // still comes here, and waits its whole timeout for an answer that never comes (a flake of test/partialMirror).
        // Bounded: with nats-server gone a flush waits for a reconnect, and a stop must end.
        const settled = Promise.all([forwarded?.drain(), nc.flush()]).catch(() => undefined);
        await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, STOP_FLUSH_MS).unref())]);
        reloads.stop();
        agent.stop();
        liveness.stop();
        health.stop();
        members.stop();
        capacity.stop();
        storageGuard.stop();
        snapshotter.stop();
        snapshots.stop();
        ingest.stop();
        await proj.stop();
        models.stop();
      })());
    },
  };
}
