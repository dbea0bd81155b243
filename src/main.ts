/**
 * `registry`: runs one registry process until SIGINT/SIGTERM, then drains.
 * `registry agent`: only the node agent, for machines that host services but no registry.
 * `registry rebuild`: empties the KV buckets and replays every event into them.
 */
import { configFromEnv, type Config } from "./config.ts";
import { namesFor } from "./contract/names.ts";
import { createLogger } from "./logger.ts";
import { connectNats, jetStreamOf } from "./nats/connect.ts";
import { startStandaloneAgent } from "./nodeAgent.ts";
import { startRegistry } from "./registry.ts";
import { provisionRegistry, rebuildBuckets } from "./storage.ts";
import { progressReporter } from "./progress.ts";
import { setFlagsFromString } from "node:v8";

/**
 * V8 lets the heap of a process whose allocations come fast grow to several times what is
 * live; a registry process keeps what it mirrors and allocates fast under load, so its
 * resident memory was about twice its live heap. A growth of 20% per collection keeps it
 * close (bench/README.md measures both memory and throughput with it).
 */
const HEAP_GROWTH = "--heap-growing-percent=20";

async function rebuild(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const nc = await connectNats(config, "registry rebuild");
  const names = namesFor(config.prefix);
  const { jsm } = await jetStreamOf(nc);
  await provisionRegistry(nc, jsm, names, config);
  const started = Date.now();
  const rebuilt = await rebuildBuckets(nc, names, log, undefined, progressReporter("rebuilding", "entities", log));
  log.info({ ...rebuilt, ms: Date.now() - started, stream: names.eventsStream }, "buckets rebuilt in place from the events; running registry processes follow on");
  await nc.drain();
}

const USAGE: Record<string, string> = {
  serve: `registry serve
  Runs one registry process until SIGINT or SIGTERM (then it drains). Several may run against one
  NATS: requests are shared between them. Configured by environment variables (README, Configuration):
  NATS_URL, REGISTRY_HTTP_ADDR, REGISTRY_POLICY, REGISTRY_REPLICAS, OB_NODE_ID, OB_SELF_URL, ...
`,
  agent: `registry agent
  Runs only the node agent: heartbeats this machine's usage and runs the checks of the instances
  that name it. For machines that host services but no registry. Configured like serve.
`,
  rebuild: `registry rebuild
  Rebuilds the KV buckets in place from the event stream (nothing is emptied; running registry
  processes follow on), then exits. NATS_URL says where.
`,
};

/** `--help` prints the command's help and does nothing else; any other argument is an error (exit 2). */
function usageOnly(command: string, args: string[]): boolean {
  if (args.length === 0) return false;
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
    process.stdout.write(USAGE[command]!);
    return true;
  }
  process.stderr.write(`registry ${command}: unexpected argument ${args.join(" ")}; it takes none (configuration is by environment)\n${USAGE[command]}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const [command = "serve", ...args] = process.argv.slice(2);
  if (command === "--help" || command === "-h") return void process.stdout.write(Object.values(USAGE).join("\n"));
  if (!(command in USAGE)) throw new Error(`unknown command "${command}"; use serve (the default), agent or rebuild`);
  if (usageOnly(command, args)) return;
  const config = configFromEnv();
  if (command === "rebuild") return rebuild(config);
  setFlagsFromString(HEAP_GROWTH);
  const log = createLogger(config.logLevel);
  const nc = await connectNats(config, command === "agent" ? "registry agent" : "registry");
  log.info({ server: nc.getServer() }, "connected to NATS");
  const running: { stop(): Promise<void>; reloadPolicy?(): Promise<void> } =
    command === "agent" ? await startStandaloneAgent(nc, config, log) : await startRegistry(nc, config, log);

  let stopping = false;
  const stop = async (signal: string) => {
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
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGHUP", () => void running.reloadPolicy?.());
}

const STOP_DEADLINE_MS = 5000;

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

// A promise nobody waited on must not take the registry down: it is logged, and the process goes on.
process.on("unhandledRejection", (reason) => createLogger("info").error({ err: reason }, "unhandled rejection; carrying on"));

main().catch((err: Error) => {
  createLogger("info").fatal(err.message);
  process.exit(1);
});
