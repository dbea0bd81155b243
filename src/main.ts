/** `registry`: runs one registry process until SIGINT/SIGTERM, then drains. */
import { configFromEnv } from "./config.ts";
import { createLogger } from "./logger.ts";
import { connectNats } from "./nats/connect.ts";
import { startRegistry } from "./registry.ts";

async function main(): Promise<void> {
  const config = configFromEnv();
  const log = createLogger(config.logLevel);
  const nc = await connectNats(config, "registry");
  log.info({ server: nc.getServer() }, "connected to NATS");
  const registry = await startRegistry(nc, config, log);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: draining requests");
    await registry.stop();
    await nc.drain();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err: Error) => {
  process.stderr.write(`registry: ${err.message}\n`);
  process.exit(1);
});
