/**
 * registry.instance.list at growing sizes: one service's instances (filtered by slug, 10
 * of them), one page of 1,000 of the unfiltered list, and the whole unfiltered list
 * page by page; and the registry's resident memory per 10,000 instances.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/client.ts";
import { latency, rssOf, waitUntil, type Latency } from "./lib.ts";
import { loadInstances } from "./load.ts";

export type QuerySize = {
  instances: number;
  filtered: Latency;
  unfilteredPage: Latency;
  wholeListMs: number;
  rssBytes: number;
  rssPer10kBytes: number;
  projectedPerSecond: number;
};

export async function benchQueries(nc: NatsConnection, registryPid: number, sizes: number[], n: number): Promise<QuerySize[]> {
  const client = new RegistryClient(nc, { timeoutMs: 30_000 });
  const baseline = await rssOf(registryPid);
  const results: QuerySize[] = [];
  let loaded = 0;
  for (const size of sizes) {
    const { projectedPerSecond } = await loadInstances(nc, loaded, size);
    loaded = size;
    const slug = (i: number) => `svc-${String(Math.abs(i * 7919) % (size / 10)).padStart(6, "0")}`;
    const id = (i: number) => `inst_${String(Math.abs(i * 104729) % size).padStart(8, "0")}`;
    // Steady state, not the tail of the load: the registry shows the last instance loaded and has
    // answered 3,000 queries first (for its first seconds after taking 100k instances in 8 s,
    // list p99 is about 2.5 ms while its collector digests the load; then 1.3 to 1.8 ms).
    const lastSlug = `svc-${String(Math.floor((size - 1) / 10)).padStart(6, "0")}`;
    await waitUntil(async () => (await client.listInstancePage({ slug: lastSlug })).instances.length === 10, `the registry to list the last of ${size} instances`, 60_000);
    await latency(3000, (i) => client.listInstancePage({ slug: slug(i) }), 0);
    const filtered = await latency(n, (i) => client.listInstancePage({ slug: slug(i) }));
    const unfilteredPage = await latency(Math.min(n, 200), (i) => client.listInstancePage({ limit: 1000, after: id(i) }));
    const t = performance.now();
    const all = await client.listInstances();
    const wholeListMs = Math.round(performance.now() - t);
    if (all.length !== size) throw new Error(`listed ${all.length} of ${size} instances`);
    const rssBytes = await rssOf(registryPid);
    results.push({ instances: size, filtered, unfilteredPage, wholeListMs, rssBytes, rssPer10kBytes: Math.round((rssBytes - baseline) / (size / 10_000)), projectedPerSecond });
  }
  return results;
}
