/**
 * The registry's processes: `serve` runs one registry process until SIGINT/SIGTERM, then
 * drains; `agent` only the node agent, for machines that host services but no registry;
 * `rebuild` writes the KV buckets again from the events, in place.
 */
import { unenforceablePolicy } from "../access/policy.ts";
import { ConfigError, configFromEnv, type Config } from "../config.ts";
import { namesFor } from "../contract/names.ts";
import { createLogger } from "../logger.ts";
import { connectNats, jetStreamOf } from "../nats/connect.ts";
import { connectionAccount } from "../nats/serverAccount.ts";
import { startStandaloneAgent } from "./nodeAgent.ts";
import { startRegistry } from "./registry.ts";
import { provisionRegistry, rebuildBuckets } from "./storage.ts";
import { progressReporter } from "../progress.ts";
import { setFlagsFromString } from "node:v8";
import type { ProcessCommand } from "../cli/main.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";

/**
 * V8 lets the heap of a process whose allocations come fast grow to several times what is
 * live; a registry process keeps what it mirrors and allocates fast under load, so its
 * resident memory was about twice its live heap. A growth of 20% per collection keeps it
 * close (bench/README.md measures both memory and throughput with it).
 */
const HEAP_GROWTH = "--heap-growing-percent=20";

async function rebuild(config: Config): Promise<void> {
  const log = createLogger(config.logLevel, { format: config.logFormat });
  const nc = await connectNats(config, "registry rebuild");
  const names = namesFor(config.prefix);
  const { jsm } = await jetStreamOf(nc);
  await provisionRegistry(nc, jsm, names, config, { refuseDropping: true });
  const started = Date.now();
  const rebuilt = await rebuildBuckets(nc, names, log, undefined, progressReporter("rebuilding", "entities", log));
  log.info({ ...rebuilt, ms: Date.now() - started, stream: names.eventsStream }, "buckets rebuilt in place from the events; running registry processes follow on");
  await nc.drain();
}

/** A registry process: it returns once the process is up (serve, agent) or done (rebuild). */
export async function runProcess(command: ProcessCommand): Promise<void> {
  const config = configFromEnv();
  if (command === "rebuild") return rebuild(config);
  setFlagsFromString(HEAP_GROWTH);
  const log = createLogger(config.logLevel, { format: config.logFormat });
  // A promise nobody waited on must not take the registry down: it is logged, and the process goes on.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection; carrying on"));
  const nc = await connectNats(config, command === "agent" ? "registry agent" : "registry");
  const enforcesPolicy = command === "serve" && config.policyFile !== undefined && (await assertPolicyEnforced(nc, log));
  log.info({ server: nc.getServer() }, "connected to NATS");
  const running: { stop(): Promise<void>; reloadPolicy?(): Promise<unknown> } =
    command === "agent" ? await startStandaloneAgent(nc, config, log) : await startRegistry(nc, config, log);

  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: draining requests");
    // Bounded: with nats-server gone, draining can only fail or wait; the process still ends cleanly.
    const drained = await withDeadline(STOP_DEADLINE_MS, async () => {
      await running.stop();
      await nc.drain();
    });
    if (!drained.ok) {
      log.warn({ reason: drained.reason }, "could not drain before stopping; closing the connection");
      await nc.close().catch(() => undefined);
    }
    log.info("stopped");
    process.exit(exitCode);
  };
  if (enforcesPolicy) stopWhenPolicyUnenforced(nc, log, () => stop("policy no longer enforced", 2));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // The outcome is logged either way; a policy that cannot be read leaves the last one in force.
  process.on("SIGHUP", () => void running.reloadPolicy?.().catch(() => undefined));
}

const STOP_DEADLINE_MS = 5000;

/**
 * A policy the server cannot back would leave the registry wide open while it looks secured:
 * `serve` with a policy starts only on a server that enforces accounts (a ConfigError says why
 * and what to do). True once it does.
 */
async function assertPolicyEnforced(nc: NatsConnection, log: Logger): Promise<true> {
  const server = await connectionAccount(nc);
  const why = unenforceablePolicy(server);
  if (why !== undefined) {
    await nc.close();
    throw new ConfigError(why);
  }
  log.info({ account: server.account }, "policy enforced by nats-server: callers reach the registry from accounts of their own, identified");
  return true;
}

/**
 * The server reconnected to may be another one (a restart with another configuration, a
 * failover to a server without accounts): the policy is checked again after every reconnect,
 * and the process stops rather than serve unidentified callers.
 */
function stopWhenPolicyUnenforced(nc: NatsConnection, log: Logger, stop: () => Promise<void>): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== "reconnect") continue;
      const why = unenforceablePolicy(await connectionAccount(nc));
      if (why === undefined) continue;
      log.fatal({ server: nc.getServer() }, `${why}; stopping`);
      await stop();
    }
  })();
}

/** Runs `work` for at most `ms`; says how it ended instead of throwing. */
async function withDeadline(ms: number, work: () => Promise<void>): Promise<{ ok: true } | { ok: false; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ ok: false; reason: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `not done within ${ms} ms` }), ms);
  });
  const done = work().then(
    () => ({ ok: true as const }),
    (err: Error) => ({ ok: false as const, reason: err.message }),
  );
  const result = await Promise.race([done, deadline]);
  clearTimeout(timer);
  return result;
}
