/**
 * `registry`: runs one registry process until SIGINT/SIGTERM, then drains.
 * `registry agent`: only the node agent, for machines that host services but no registry.
 * `registry rebuild`: empties the KV buckets and replays every event into them.
 */
import { configFromEnv, type Config } from "./config.ts";
import { namesFor } from "./contract/names.ts";
import { provision } from "./nats/provision.ts";
import { rebuildProjections } from "./projector/rebuild.ts";
import { createLogger } from "./logger.ts";
import { connectNats, jetStreamOf } from "./nats/connect.ts";
import { kvWriter } from "./projector/kvWriter.ts";
import { projector } from "./projector/projector.ts";
import { startStandaloneAgent } from "./nodeAgent.ts";
import { startRegistry } from "./registry.ts";

async function rebuild(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const nc = await connectNats(config, "registry rebuild");
  const names = namesFor(config.prefix);
  const { js, jsm } = await jetStreamOf(nc);
  await provision(nc, jsm, names);
  const { replay } = projector({ js, names, writer: kvWriter(js, jsm), log });
  const started = Date.now();
  const { events, entities } = await rebuildProjections(js, jsm, names, replay);
  log.info({ events, entities, ms: Date.now() - started, stream: names.eventsStream }, "buckets rebuilt from the events; running registry processes follow on");
  await nc.drain();
}

async function main(): Promise<void> {
  const config = configFromEnv();
  const command = process.argv[2] ?? "serve";
  if (command === "rebuild") return rebuild(config);
  if (command !== "serve" && command !== "agent") throw new Error(`unknown command "${command}"; use serve (the default), agent or rebuild`);
  const log = createLogger(config.logLevel);
  const nc = await connectNats(config, command === "agent" ? "registry agent" : "registry");
  log.info({ server: nc.getServer() }, "connected to NATS");
  const running = command === "agent" ? await startStandaloneAgent(nc, config, log) : await startRegistry(nc, config, log);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: draining requests");
    await running.stop();
    await nc.drain();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err: Error) => {
  createLogger("info").fatal(err.message);
  process.exit(1);
});
