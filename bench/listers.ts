/**
 * Reads under load: `clients` concurrent listers, each asking for pages of `pageSize`
 * instances one after the other, against a registry holding `instances` instances while
 * `nodes` simulated nodes heartbeat once a second (their telemetry folded into
 * registry_nodes meanwhile). Latency of each page at p50 and p99.
 */
import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/client.ts";
import { heartbeat, publishHeartbeat } from "../test/harness/nodes.ts";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { percentile } from "./lib.ts";
import { loadInstances } from "./load.ts";

export type ListersResult = { clients: number; pageSize: number; nodes: number; instances: number; pages: number; p50: number; p99: number; max: number };

export async function benchListers(opts: { clients: number; pageSize: number; nodes: number; instances: number; seconds: number }): Promise<ListersResult> {
  const { clients, pageSize, nodes, instances, seconds } = opts;
  const server = await startNatsServer();
  const registry = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir });
  const nc = await connect({ servers: server.url });
  const heartbeats = await connect({ servers: server.url });
  let beating: ReturnType<typeof setInterval> | undefined;
  try {
    await loadInstances(nc, 0, instances);
    const ids = Array.from({ length: nodes }, (_, i) => `sim-${i}`);
    let slice = 0;
    // 100 slices a second: each node once a second, spread evenly.
    beating = setInterval(() => {
      for (let i = slice; i < nodes; i += 100) publishHeartbeat(heartbeats, heartbeat(ids[i]!));
      slice = (slice + 1) % 100;
    }, 10);
    const client = new RegistryClient(nc, { timeoutMs: 30_000 });
    const id = (i: number) => `inst_${String(Math.abs(i * 104729) % (instances - pageSize)).padStart(8, "0")}`; // a full page after each
    const warmupEnds = Date.now() + 2000;
    const end = warmupEnds + seconds * 1000;
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = c; Date.now() < end; i += clients) {
          const t = performance.now();
          const page = await client.listInstancePage({ limit: pageSize, after: id(i) });
          if (Date.now() > warmupEnds) times.push(performance.now() - t);
          if (page.instances.length !== pageSize) throw new Error(`a page of ${pageSize} came back with ${page.instances.length} instances`);
        }
      }),
    );
    times.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 100) / 100;
    return { clients, pageSize, nodes, instances, pages: times.length, p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), max: round(times.at(-1) ?? NaN) };
  } finally {
    clearInterval(beating);
    await heartbeats.close();
    await nc.close();
    await registry.stop();
    await server.stop();
  }
}
