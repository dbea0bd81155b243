import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config.ts";

/** Connects with the configured servers and credentials; the error names NATS_URL when it fails. */
export async function connectNats(config: Config, name: string): Promise<NatsConnection> {
  const servers = config.natsUrl.split(",").map((s) => s.trim());
  try {
    return await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      ...(config.natsCreds ? { authenticator: credsAuthenticator(await readFile(config.natsCreds)) } : {}),
      ...(config.natsUser ? { user: config.natsUser, pass: config.natsPassword } : {}),
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${config.natsUrl} (${(err as Error).message}); start nats-server or set NATS_URL`, { cause: err });
  }
}
