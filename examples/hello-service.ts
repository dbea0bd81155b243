/**
 * A small service that registers itself: it answers HTTP on 127.0.0.1, registers as
 * `hello-svc` with a lease and an HTTP health check, renews the lease while it runs, and
 * deregisters when stopped (Ctrl-C or SIGTERM).
 *
 *   node --import tsx examples/hello-service.ts [PORT]      (NATS_URL as for the registry)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "@nats-registry/registry";

// Handled from the first line: a SIGTERM during start-up (`kill %1` right after `&`) still deregisters.
let stopRequested: () => void = () => undefined;
const stopping = new Promise<void>((resolve) => (stopRequested = resolve));
process.once("SIGINT", () => stopRequested());
process.once("SIGTERM", () => stopRequested());

const name = process.env.HELLO_NAME ?? `hello-${process.pid}`;
const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(req.url === "/health" ? "ok" : `hello from ${name}\n`);
});
await new Promise<void>((resolve) => server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;

const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
const registry = new RegistryClient(nc);
const me = await registry.selfRegister({
  url: `http://127.0.0.1:${port}`,
  slug: "hello-svc",
  ttlSeconds: 10,
  check: { type: "http", path: "/health", intervalMs: 2000 },
});
process.stdout.write(`${name} listening on http://127.0.0.1:${port}, registered as ${me.instance().id}\n`);

await stopping;
await me.stop(); // deregister first, so callers stop picking this instance
server.close();
await nc.drain();
process.stdout.write(`${name} deregistered and stopped\n`);
process.exit(0);
