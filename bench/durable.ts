/**
 * The like-for-like durable comparison: registration on a three-node NATS cluster with
 * every stream and bucket replicated three ways (REGISTRY_REPLICAS=3), against puts on a
 * three-member etcd cluster; both on loopback, 64 in flight, the same number of new entries.
 */
import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/client.ts";
import { startCluster } from "../test/harness/cluster.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { benchEtcd } from "./etcd.ts";
import { throughput, type Throughput } from "./lib.ts";

export type DurableResult = { registry: Throughput; etcd: Throughput };

export async function benchDurable(n: number): Promise<DurableResult> {
  const cluster = await startCluster(3);
  let registry: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
  const nc = await connect({ servers: cluster.urls.split(",") });
  let result: Throughput;
  try {
    registry = await spawnRegistry(cluster.urls, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: cluster.servers[0]!.dir, REGISTRY_REPLICAS: "3" });
    const client = new RegistryClient(nc, { timeoutMs: 30_000 });
    const url = (i: number) => `http://127.0.${Math.floor(i / 50000) % 250}.${1 + (i % 250)}:${10000 + (i % 50000)}/d${i}`;
    await throughput(200, 64, (i) => client.registerInstance({ url: url(n + i), slug: "bench-durable", tags: ["bench"] }));
    result = await throughput(n, 64, (i) => client.registerInstance({ url: url(i), slug: "bench-durable", tags: ["bench"] }));
  } finally {
    await nc.close();
    await registry?.stop();
    await cluster.stop();
  }
  return { registry: result, etcd: await benchEtcd(n, 64, 0, 3) };
}
