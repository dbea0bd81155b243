import { readFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, errors, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { RegistryError } from "../contract/errors.ts";

/** Where NATS is and how to log in to it (NATS_URL, NATS_CREDS, NATS_USER and NATS_PASSWORD). */
export type ConnectOptions = {
  natsUrl: string;
  natsCreds?: string | undefined;
  /** A file holding a user nkey's seed (`registry auth add-service` writes one). */
  natsNkey?: string | undefined;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
};

/**
 * Connects with the configured servers and credentials. The error says what to set: the
 * credentials' variables when the server refused them, NATS_URL when nothing (or something
 * that is not NATS) answers there.
 */
export async function connectNats(config: ConnectOptions, name: string): Promise<NatsConnection> {
  const servers = config.natsUrl.split(",").map((s) => s.trim());
  try {
    return await connect({
      servers: await serversThatMayBeNats(servers),
      name,
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
      ...(config.natsCreds ? { authenticator: credsAuthenticator(await readFile(config.natsCreds)) } : {}),
      ...(config.natsNkey ? { authenticator: nkeyAuthenticator(new TextEncoder().encode((await readFile(config.natsNkey, "utf8")).trim())) } : {}),
      ...(config.natsUser ? { user: config.natsUser, pass: config.natsPassword } : {}),
    });
  } catch (err) {
    if (err instanceof NotNatsError) throw new RegistryError(503, `${err.message}; set NATS_URL to a NATS server's address`, { cause: err });
    if (isRefusedLogin(err)) throw new RegistryError(503, `NATS at ${config.natsUrl} refused the login (${(err as Error).message}); ${credentialsHint(config)}`, { cause: err });
    throw new RegistryError(503, `cannot connect to NATS at ${config.natsUrl} (${(err as Error).message}); start nats-server or set NATS_URL`, { cause: err });
  }
}

const isRefusedLogin = (err: unknown) => err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError || /authoriz|authenticat/i.test((err as Error).message);

/** Which credentials were sent, and what to check; without any, which variables log in. */
function credentialsHint(config: ConnectOptions): string {
  if (config.natsCreds) return `check the credentials file NATS_CREDS=${config.natsCreds}`;
  if (config.natsNkey) return `check the nkey seed file NATS_NKEY=${config.natsNkey} (and that the server's configuration has its public key)`;
  if (config.natsUser) return `check NATS_USER=${config.natsUser} and NATS_PASSWORD`;
  return "this server wants a login: set NATS_USER and NATS_PASSWORD, NATS_NKEY (a seed file) or NATS_CREDS (a credentials file)";
}

class NotNatsError extends Error {
  override name = "NotNatsError";
}

/** A NATS server greets every connection with INFO at once; what is silent this long, or says something else, is not one. */
const GREETING_WITHIN_MS = 2000;

/**
 * The servers of NATS_URL worth connecting to: those that greet as NATS and those that take
 * no connection now (the client retries them). A server that takes the connection but is
 * silent or says something else is left out, since the client would wait 20 s on it; when
 * every server that answers is such a one, this fails at once saying so.
 */
async function serversThatMayBeNats(servers: string[]): Promise<string[]> {
  const greetings = await Promise.all(servers.map((s) => greetingOf(s)));
  const others = greetings.filter((g) => g.kind === "other");
  const worth = servers.filter((_, i) => greetings[i]!.kind !== "other");
  if (others.length > 0 && !greetings.some((g) => g.kind === "nats")) {
    throw new NotNatsError(others.map((g) => `what answers at ${g.address} is not a NATS server (${g.saw})`).join("; "));
  }
  return worth.length > 0 ? worth : servers;
}

type Greeting = { kind: "nats" } | { kind: "unreachable" } | { kind: "other"; address: string; saw: string };

function greetingOf(server: string): Promise<Greeting> {
  let url: URL;
  try {
    url = new URL(server.includes("://") ? server : `nats://${server}`);
  } catch {
    return Promise.resolve({ kind: "unreachable" }); // the client says what is wrong with it
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || 4222);
  const address = `${url.hostname}:${port}`;
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    let received = "";
    const end = (g: Greeting) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(g);
    };
    const timer = setTimeout(() => end(received === "" ? { kind: "other", address, saw: `it said nothing within ${GREETING_WITHIN_MS} ms; a NATS server greets at once` } : { kind: "other", address, saw: `it said ${JSON.stringify(received.slice(0, 40))}` }), GREETING_WITHIN_MS);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.length < 5) return;
      end(received.startsWith("INFO ") || received.startsWith("INFO\t") ? { kind: "nats" } : { kind: "other", address, saw: `it said ${JSON.stringify(received.slice(0, 40))}` });
    });
    socket.on("error", () => end({ kind: "unreachable" }));
    socket.on("close", () => end(received === "" ? { kind: "unreachable" } : { kind: "other", address, saw: `it said ${JSON.stringify(received.slice(0, 40))} and closed` }));
  });
}

/** The JetStream client and manager of a connection; the error says how to enable JetStream. */
export async function jetStreamOf(nc: NatsConnection) {
  const jsm = await jetstreamManager(nc).catch((err: Error) => {
    throw new Error(`JetStream is not available on the NATS server at ${nc.getServer()} (${err.message}); run nats-server with -js, or jetstream {} in its config`, { cause: err });
  });
  return { js: jetstream(nc), jsm };
}
