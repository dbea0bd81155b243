/**
 * Wires this machine's node agent: its identity and the one configuration warning, its
 * heartbeats, and the checks of the instances that name its node. Every registry process
 * runs one; `registry agent` runs one alone.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import { namesFor, type Names } from "../contract/names.ts";
import type { Instance } from "../contract/schemas.ts";
import { startNodeAgent, type NodeAgent } from "../agent/agent.ts";
import { nvidiaSmiProbe } from "../agent/gpus.ts";
import { configurationWarning, resolveIdentity } from "../agent/identity.ts";
import { systemUsageProbe } from "../agent/usage.ts";
import { healthChecker, type HealthChecker } from "../health/checker.ts";
import { jetStreamOf } from "../nats/connect.ts";
import { readNodeInstance } from "../contract/readers.ts";
import { nodeInstanceKey, nodeUrlKey } from "../contract/ids.ts";
import { KvMirror } from "../nats/kvMirror.ts";
import { unreadableCounter } from "../unreadable.ts";
import { RegistryClient } from "../client/client.ts";
import { BY_NODE, KeysFeed } from "../client/keysFeed.ts";

/** This machine's node agent: identity, the one configuration warning, heartbeats. */
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

/**
 * The checks a node agent runs: those of the instances that name its node's URL. The
 * outcome goes to the registry as a request (`instance.checked`), like any other client's.
 */
export function nodeAgentChecks(
  nc: NatsConnection,
  names: Names,
  agent: NodeAgent,
  /** The instances that may have a check on this node (all of them will do). */
  candidates: () => Iterable<Instance>,
  current: (id: string) => Instance | undefined,
  log: Logger,
): HealthChecker {
  return healthChecker({
    assigned: function* () {
      for (const i of candidates()) if (i.check && i.nodeUrl === agent.identity.url) yield i;
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
 * (`registry agent`): heartbeats, and the checks of the instances that name this node. It
 * follows its own node's part of the per-node index (`<node key>.>`) and nothing else, so a
 * change of an instance on another node never reaches it: in the registry's account by a
 * mirror filtered on the server; in an account of its own (the secure layout's AGENTS) by the
 * index's exported changes, which its user may subscribe to for its node only, and a list of
 * the instances naming its node.
 */
export async function startStandaloneAgent(nc: NatsConnection, config: Config, log: Logger): Promise<{ stop(): Promise<void> }> {
  const names = namesFor(config.prefix);
  const agent = await startAgent(nc, config, log);
  const jetStream = await jetStreamOf(nc).catch(() => undefined);
  const nodeUrl = agent.identity.url;
  const ownKeys = `${nodeUrlKey(nodeUrl)}.>`;
  let instances: { start(): Promise<void>; stop(): void; all(): Iterable<Instance>; get(id: string): Instance | undefined };
  if (jetStream) {
    const mirror = new KvMirror<Instance>(jetStream.js, jetStream.jsm, names.buckets.nodeInstance, log, { read: readNodeInstance, unreadable: unreadableCounter(log), keys: ownKeys });
    instances = { start: () => mirror.start(), stop: () => mirror.stop(), all: () => mirror.values(), get: (id) => mirror.get(nodeInstanceKey(nodeUrl, id)) };
  } else {
    const client = new RegistryClient(nc, { prefix: config.prefix });
    const listPage = (after: string | undefined) => client.listInstancePage({ nodeUrl, limit: 1000, withVersions: true, ...(after !== undefined ? { after } : {}) });
    const feed = new KeysFeed(nc, names.buckets.nodeInstance, ownKeys, listPage, log, BY_NODE);
    instances = { start: () => feed.start(), stop: () => feed.stop(), all: () => feed.values(), get: (id) => feed.get(id) };
    log.info({ keys: ownKeys }, "no JetStream in this agent's account: following its node's part of the per-node index by its exported changes");
  }
  await instances.start();
  const checks = nodeAgentChecks(nc, names, agent, () => instances.all(), (id) => instances.get(id), log);
  return {
    stop() {
      agent.stop();
      checks.stop();
      instances.stop();
      return Promise.resolve();
    },
  };
}
