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
import { KvMirror } from "./readmodels/kvMirror.ts";
import { nodeIdOfUrl, registryQueries } from "./readmodels/registryQueries.ts";
import { startService } from "./service/service.ts";

export const VERSION = "0.1.0";

export type Registry = {
  names: Names;
  service: Service;
  agent: NodeAgent;
  commands: ReturnType<typeof registryCommands>;
  /** Stops answering, then stops following streams. The connection is the caller's. */
  stop(): Promise<void>;
};

async function jetStreamOf(nc: NatsConnection) {
  const jsm = await jetstreamManager(nc).catch((err: Error) => {
    throw new Error(`JetStream is not available on the NATS server at ${nc.getServer()} (${err.message}); run nats-server with -js, or jetstream {} in its config`, { cause: err });
  });
  return { js: jetstream(nc), jsm };
}

/** The node agent alone, for machines that host services but run no registry (`registry agent`). */
export async function startAgent(nc: NatsConnection, config: Config, log: Logger): Promise<NodeAgent> {
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

export async function startRegistry(nc: NatsConnection, config: Config, log: Logger): Promise<Registry> {
  const names = namesFor(config.prefix);
  const { js, jsm } = await jetStreamOf(nc);
  await provision(nc, jsm, names);

  const store = natsEventStore(js, jsm, names.eventsStream);
  const writer = kvWriter(js, jsm);
  const proj = projector({ js, names, writer, log });
  void proj.run();

  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log);
  const instanceMirror = new KvMirror<Instance>(js, jsm, names.buckets.instance, log);
  const nodes = new KvMirror<Node>(js, jsm, names.buckets.node, log);
  const instances = new InstancesView(instanceMirror);
  await Promise.all([definitions.start(), instanceMirror.start(), nodes.start()]);

  const commands = registryCommands({
    store,
    names,
    project: proj.project,
    lookups: {
      sync: async () => {
        await Promise.all([instances.sync(), nodes.sync()]);
      },
      instanceIdOfUrl: (url) => instances.idOfUrl(url),
      nodeIdOfUrl: (url) => nodeIdOfUrl(nodes, url),
    },
  });

  const ingest = heartbeatIngest({ js, names, nodes, writer, commands, offlineAfterMs: config.offlineAfterMs, log });
  void ingest.run();
  const liveness = livenessMonitor({ nodes, commands, offlineAfterMs: config.offlineAfterMs, tickMs: Math.min(config.heartbeatIntervalMs, 1000), log });
  const agent = await startAgent(nc, config, log);

  const queries = registryQueries({ definitions, instances, nodes, selfNodeId: agent.identity.id });
  const service = await startService({ nc, names, api: { ...commands, ...queries }, log, version: VERSION, maxRequestBytes: config.maxRequestBytes });
  log.info(
    { prefix: names.prefix, stream: names.eventsStream, node: agent.identity.id, instances: instanceMirror.size, definitions: definitions.size, nodes: nodes.size },
    "registry started",
  );

  return {
    names,
    service,
    agent,
    commands,
    async stop() {
      await service.stop();
      agent.stop();
      liveness.stop();
      await Promise.all([proj.stop(), ingest.stop()]);
      for (const m of [definitions, instanceMirror, nodes]) m.stop();
    },
  };
}
