import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
/** Where NATS is and how to log in to it (NATS_URL, NATS_CREDS, NATS_USER and NATS_PASSWORD). */
export type ConnectOptions = {
  natsUrl: string;
  natsCreds?: string | undefined;
  /** A file holding a user nkey's seed (`registry auth add-service` writes one). */
  natsNkey?: string | undefined;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
};
import { RegistryError } from "../contract/errors.ts";

/** Connects with the configured servers and credentials; the error names NATS_URL when it fails. */
export async function connectNats(config: ConnectOptions, name: string): Promise<NatsConnection> {
  const servers = config.natsUrl.split(",").map((s) => s.trim());
  try {
    return await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
      ...(config.natsCreds ? { authenticator: credsAuthenticator(await readFile(config.natsCreds)) } : {}),
      ...(config.natsNkey ? { authenticator: nkeyAuthenticator(new TextEncoder().encode((await readFile(config.natsNkey, "utf8")).trim())) } : {}),
      ...(config.natsUser ? { user: config.natsUser, pass: config.natsPassword } : {}),
    });
  } catch (err) {
    throw new RegistryError(503, `cannot connect to NATS at ${config.natsUrl} (${(err as Error).message}); start nats-server or set NATS_URL`, { cause: err });
  }
}

/** The JetStream client and manager of a connection; the error says how to enable JetStream. */
export async function jetStreamOf(nc: NatsConnection) {
  const jsm = await jetstreamManager(nc).catch((err: Error) => {
    throw new Error(`JetStream is not available on the NATS server at ${nc.getServer()} (${err.message}); run nats-server with -js, or jetstream {} in its config`, { cause: err });
  });
  return { js: jetstream(nc), jsm };
}
