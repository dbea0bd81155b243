/**
 * A registry for a test: a real nats-server, a registry on its own connection, and a
 * client connection with `call()` for request/reply as any service would send it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { defaultConfig, type Config } from "../../src/config.ts";
import { startRegistry, type Registry } from "../../src/app/registry.ts";
import { readSubjects } from "../../src/nats/readSubjects.ts";
import { startNatsServer, type NatsServer } from "./natsServer.ts";
import { until } from "./until.ts";

export type Reply = { code: number | undefined; body: any; headers: Record<string, string> };

export type Client = {
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** Sends `body` (an object is JSON-encoded; a string or bytes are sent as they are) to `<prefix>.<subject>`. */
  call(subject: string, body?: unknown, opts?: { msgId?: string }): Promise<Reply>;
  /** Events written so far, but for those of the test registry's own node (its agent heartbeats on its own schedule). */
  eventCount(): Promise<number>;
};

export async function clientFor(url: string, prefix = "registry"): Promise<Client> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  return {
    nc,
    jsm,
    async call(subject, body = {}, opts = {}) {
      const payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      const h = natsHeaders();
      if (opts.msgId) h.set("Nats-Msg-Id", opts.msgId);
      const m = await nc.request(`${prefix}.${subject}`, payload, { timeout: 10_000, headers: h });
      const code = m.headers?.get("Nats-Service-Error-Code");
      const hs: Record<string, string> = {};
      for (const [k, v] of m.headers ?? []) hs[k] = v.join(",");
      return { code: code ? Number(code) : undefined, body: m.data.length ? m.json() : undefined, headers: hs };
    },
    async eventCount() {
      const info = await jsm.streams.info(`${prefix.replaceAll(".", "_").toUpperCase()}_EVENTS`, { subjects_filter: ">" });
      const own = info.state.subjects?.[`${prefix}.events.node.self-node`] ?? 0;
      return info.state.messages - own;
    },
  };
}

export type TestRegistry = Client & {
  server: NatsServer;
  registry: Registry;
  stop(): Promise<void>;
};

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

/**
 * Test defaults: the registry's own node is `self-node`, its node-id file goes to a temporary
 * directory. Another node id gets a URL of its own, since a node's URL is unique: two processes
 * with one URL would be one node.
 */
export function testConfig(url: string, dataDir: string, overrides: Partial<Config> = {}): Config {
  return {
    ...defaultConfig(),
    natsUrl: url,
    nodeId: "self-node",
    ...(overrides.nodeId !== undefined && overrides.nodeId !== "self-node" ? { selfUrl: `http://127.0.0.1:11337/${overrides.nodeId}` } : {}),
    dataDir,
    heartbeatIntervalMs: 1000,
    offlineAfterMs: 3000,
    httpAddr: { host: "127.0.0.1", port: 0 }, // a free port: tests run side by side
    dnsAddr: { host: "127.0.0.1", port: 0 },
    ...overrides,
  };
}

export async function startRegistryOn(url: string, dataDir: string, overrides: Partial<Config> = {}): Promise<{ registry: Registry; nc: NatsConnection }> {
  const nc = await connect({ servers: url });
  const registry = await startRegistry(nc, testConfig(url, dataDir, overrides), silentLog);
  return { registry, nc };
}

export async function startTestRegistry(overrides: Partial<Config> = {}): Promise<TestRegistry> {
  const server = await startNatsServer();
  const { registry, nc: registryNc } = await startRegistryOn(server.url, server.dir, overrides);
  const client = await clientFor(server.url, overrides.prefix);
  return {
    ...client,
    server,
    registry,
    async stop() {
      await client.nc.close();
      await registry.stop();
      await registryNc.close();
      await server.stop();
    },
  };
}

/** `src/main.ts <command>` as its own OS process, with its output collected. */
function launchMain(url: string, command: string, env: Record<string, string>, nodeArgs: string[] = []): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", "src/main.ts", command], {
    cwd: root,
    env: { ...process.env, NATS_URL: url, LOG_LEVEL: "info", REGISTRY_HTTP_ADDR: "127.0.0.1:0", REGISTRY_DNS_ADDR: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, output: () => out, exited };
}

/**
 * A registry as its own OS process (`tsx src/main.ts`), as `make run` starts it; give it
 * REGISTRY_DATA_DIR. `nodeArgs` go to node itself (`--cpu-prof` for a profile).
 */
export async function spawnRegistry(
  url: string,
  env: Record<string, string> = {},
  command: "serve" | "agent" = "serve",
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; output: () => string; stop(): Promise<void> }> {
  const ready = command === "serve" ? '"registry started"' : '"node agent heartbeating"';
  const { child, output, exited } = launchMain(url, command, env, nodeArgs);
  await until(() => {
    if (child.exitCode !== null) throw new Error(`registry exited early: ${output()}`);
    return output().includes(ready);
  }, `the registry ${command} process to start`, 20_000).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  return {
    child,
    output,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** Every event stored on one entity's subject, oldest first. */
export async function historyOf(nc: NatsConnection, stream: string, subject: string): Promise<{ type: string; data: any; metadata: any }[]> {
  const events: { type: string; data: any; metadata: any }[] = [];
  for await (const m of readSubjects(jetstream(nc), stream, subject, "all")) events.push(m.json());
  return events;
}

/** Runs `src/main.ts <command>` to its end (e.g. `rebuild`), as `make rebuild` does; killed after a minute. */
export async function runRegistryCommand(url: string, command: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const { child, output, exited } = launchMain(url, command, env);
  const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await exited;
  clearTimeout(deadline);
  return { code, output: output() };
}
