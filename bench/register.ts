/** registry.instance.register: latency with 1 in flight, throughput with 64, each registering a new URL. */
import type { NatsConnection } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/client.ts";
import { latency, throughput, type Latency, type Throughput } from "./lib.ts";

export type RegisterResult = { latency: Latency; throughput: Throughput };

const urlOf = (offset: number) => (i: number) =>
  `http://127.0.${Math.floor((offset + i) / 50000) % 250}.${1 + ((offset + i) % 250)}:${10000 + ((offset + i) % 50000)}/r${offset + i}`;

export async function benchRegister(nc: NatsConnection, n: number, offset: number): Promise<RegisterResult> {
  const client = new RegistryClient(nc, { timeoutMs: 30_000 });
  const url = urlOf(offset);
  return {
    latency: await latency(n, (i) => client.registerInstance({ url: url(i < 0 ? n - i : i), slug: "bench-reg", tags: ["bench"] })),
    throughput: await registerThroughput(nc, n, offset + 2 * n + 200),
  };
}

/** Registrations of `n` new URLs, 64 in flight (after 200 to warm up). */
export async function registerThroughput(nc: NatsConnection, n: number, offset: number): Promise<Throughput> {
  const client = new RegistryClient(nc, { timeoutMs: 30_000 });
  const url = urlOf(offset);
  await throughput(200, 64, (i) => client.registerInstance({ url: url(n + i), slug: "bench-reg", tags: ["bench"] }));
  return throughput(n, 64, (i) => client.registerInstance({ url: url(i), slug: "bench-reg", tags: ["bench"] }));
}
