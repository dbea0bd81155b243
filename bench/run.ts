/**
 * `make bench`: the whole suite in one run, each figure beside its reference from the same
 * run (absolute times drift between runs on a shared 2-core machine; ratios do not).
 * Prints a table and writes bench/results.json. BENCH_QUICK=1 is a short run for trying.
 * Benchmarks never fail the build on a figure. Everything runs on loopback.
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { benchDashboard } from "./dashboard.ts";
import { benchDurable } from "./durable.ts";
import { benchMillion } from "./million.ts";
import { benchFleet } from "./fleet.ts";
import { benchEtcd } from "./etcd.ts";
import { benchHeartbeats } from "./heartbeats.ts";
import { ratio } from "./lib.ts";
import { benchLimit } from "./limit.ts";
import { benchListers } from "./listers.ts";
import { benchQueries } from "./queries.ts";
import { benchRebuild } from "./rebuild.ts";
import { benchRegister, registerThroughput } from "./register.ts";

const quick = process.env.BENCH_QUICK === "1";
const plan = quick
  ? { ops: 1000, querySizes: [1_000, 10_000], queryOps: 300, heartbeatNodes: [100, 1_000], heartbeatSeconds: 5, rebuildEvents: [10_000, 100_000], listersSeconds: 3, fleetWarmupSeconds: 15, fleetSteadySeconds: 20 }
  : { ops: 5000, querySizes: [1_000, 10_000, 100_000], queryOps: 1000, heartbeatNodes: [100, 1_000, 5_000], heartbeatSeconds: 10, rebuildEvents: [100_000, 1_000_000], listersSeconds: 10, fleetWarmupSeconds: 30, fleetSteadySeconds: 60 };
/** Issue 24's fleet: nodes at the default heartbeat interval, leased instances (ttl 15 s), some with http checks. */
const FLEET = { nodes: 10_000, instances: 100_000, checked: 200 };
const LISTERS = { clients: 50, pageSize: 100, nodes: 500, instances: 10_000 };
/** Issue 26's large fleet, as the dashboard shows it. */
const DASHBOARD = { instances: 100_000, services: 1_000, nodes: 1_000 };
const started = Date.now();
const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);

/** Runs `run` against `processes` registry processes (in one queue group) on one nats-server. */
async function withRegistry<T>(run: (nc: Awaited<ReturnType<typeof connect>>, pid: number) => Promise<T>, processes = 1, env: Record<string, string> = {}): Promise<T> {
  const server = await startNatsServer();
  const registries = [];
  for (let i = 0; i < processes; i++) registries.push(await spawnRegistry(server.url, { OB_NODE_ID: `bench-registry-${i}`, REGISTRY_DATA_DIR: server.dir, ...env }));
  const nc = await connect({ servers: server.url });
  try {
    return await run(nc, registries[0]!.child.pid!);
  } finally {
    await nc.close();
    for (const r of registries) await r.stop();
    await server.stop();
  }
}

log(`${quick ? "quick" : "full"} run`);
const empty = await withRegistry(async (nc) => {
  log(`limit and registration into an empty registry (${plan.ops} ops each)`);
  const emptyLimit = await benchLimit(nc, plan.ops);
  const emptyRegister = await benchRegister(nc, plan.ops, 0);
  log(`peer: etcd puts (${plan.ops} ops, 64 in flight)`);
  const etcd = await benchEtcd(plan.ops, 64);
  return { emptyLimit, emptyRegister, etcd };
});
log(`registration into two registry processes (${plan.ops} ops, 64 in flight)`);
const twoProcesses = await withRegistry((nc) => registerThroughput(nc, plan.ops, 0), 2);
log(`registration with REGISTRY_REPLY_AFTER=append (${plan.ops} ops each)`);
const replyAfterAppend = await withRegistry((nc) => benchRegister(nc, plan.ops, 0), 1, { REGISTRY_REPLY_AFTER: "append" });
const results = await withRegistry(async (nc, pid) => {
  log(`queries at ${plan.querySizes.join(", ")} instances`);
  const queries = await benchQueries(nc, pid, plan.querySizes, plan.queryOps);
  const loaded = plan.querySizes.at(-1)!;
  log(`limit and registration into a registry of ${loaded} instances`);
  const fullLimit = await benchLimit(nc, plan.ops);
  const fullRegister = await benchRegister(nc, plan.ops, 1_000_000);
  log(`peer: etcd puts into an etcd holding ${loaded} services`);
  const etcdLoaded = await benchEtcd(plan.ops, 64, loaded);
  return { ...empty, twoProcesses, replyAfterAppend, queries, loaded, fullLimit, fullRegister, etcdLoaded };
});

log(`durable: registry on three nats-servers with R3 against a three-member etcd (${plan.ops} ops each)`);
const durable = await benchDurable(plan.ops);
log(`${LISTERS.clients} listers, pages of ${LISTERS.pageSize}, ${LISTERS.nodes} nodes heartbeating, ${LISTERS.instances} instances`);
const listers = await benchListers({ ...LISTERS, seconds: plan.listersSeconds });

const heartbeats = [];
for (const n of plan.heartbeatNodes) {
  log(`heartbeats: ${n} nodes for ${plan.heartbeatSeconds}s`);
  heartbeats.push(await benchHeartbeats(n, plan.heartbeatSeconds));
}

const rebuilds = [];
for (const events of plan.rebuildEvents) {
  log(`rebuild from ${events} events`);
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  let registry: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
  try {
    rebuilds.push(
      await benchRebuild(nc, events, async () => {
        registry = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir });
      }),
    );
  } finally {
    await nc.close();
    await registry?.stop();
    await server.stop();
  }
}

log(`fleet: ${FLEET.nodes} nodes, ${FLEET.instances} leased instances, ${plan.fleetSteadySeconds}s steady`);
const fleet = await benchFleet({ ...FLEET, warmupSeconds: plan.fleetWarmupSeconds, steadySeconds: plan.fleetSteadySeconds });

log(`dashboard in Chromium: ${DASHBOARD.instances} instances in ${DASHBOARD.services} services, ${DASHBOARD.nodes} nodes`);
const dashboard = await benchDashboard({ ...DASHBOARD, log });

// Issue 27's million: minutes of loading through the API, so the full run only.
const million = quick ? null : (log("million: 1,000,000 instances and 2,000,000 events through the API, then a cold start, asOf and the audit log"), await benchMillion({ instances: 1_000_000, log }));

// ---------------------------------------------------------------- report

const seconds = Math.round((Date.now() - started) / 1000);
const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  natsServer: execFileSync("nats-server", ["--version"]).toString().trim(),
  etcd: execFileSync("etcd", ["--version"]).toString().split("\n")[0]?.trim(),
};
const rows: [string, string, string, string, string][] = [];
const row = (figure: string, value: string, reference: string, r: string, target = "") => rows.push([figure, value, reference, r, target]);
for (const [label, limit, register] of [
  ["empty registry", results.emptyLimit, results.emptyRegister],
  [`${results.loaded} instances`, results.fullLimit, results.fullRegister],
] as const) {
  row(`raw KV put, 1 in flight (${label})`, `p50 ${limit.kvPut.latency.p50} ms`, `raw publish p50 ${limit.publish.latency.p50} ms`, `${ratio(limit.kvPut.latency.p50, limit.publish.latency.p50)}x`);
  row(`raw KV put, 64 in flight (${label})`, `${limit.kvPut.throughput.opsPerSecond}/s`, `raw publish ${limit.publish.throughput.opsPerSecond}/s`, `${ratio(limit.kvPut.throughput.opsPerSecond, limit.publish.throughput.opsPerSecond)}`);
  row(`register p50, 1 in flight (${label})`, `${register.latency.p50} ms (p99 ${register.latency.p99})`, `raw publish p50 ${limit.publish.latency.p50} ms`, `${ratio(register.latency.p50, limit.publish.latency.p50)}x`, "<= 3x");
  row(`register, 64 in flight (${label})`, `${register.throughput.opsPerSecond}/s`, `raw publish ${limit.publish.throughput.opsPerSecond}/s`, `${ratio(register.throughput.opsPerSecond, limit.publish.throughput.opsPerSecond)}`, ">= 0.33");
}
row("register p50, 1 in flight, REGISTRY_REPLY_AFTER=append (empty)", `${results.replyAfterAppend.latency.p50} ms (p99 ${results.replyAfterAppend.latency.p99})`, `raw publish p50 ${results.emptyLimit.publish.latency.p50} ms`, `${ratio(results.replyAfterAppend.latency.p50, results.emptyLimit.publish.latency.p50)}x`, "<= 3x");
row("register, 64 in flight, REGISTRY_REPLY_AFTER=append (empty)", `${results.replyAfterAppend.throughput.opsPerSecond}/s`, `raw publish ${results.emptyLimit.publish.throughput.opsPerSecond}/s`, `${ratio(results.replyAfterAppend.throughput.opsPerSecond, results.emptyLimit.publish.throughput.opsPerSecond)}`, ">= 0.33");
row("register, 64 in flight, two registry processes (empty)", `${results.twoProcesses.opsPerSecond}/s`, `one process ${results.emptyRegister.throughput.opsPerSecond}/s`, `${ratio(results.twoProcesses.opsPerSecond, results.emptyRegister.throughput.opsPerSecond)}`);
row("register vs etcd put, 64 in flight (empty)", `${results.emptyRegister.throughput.opsPerSecond}/s`, `etcd ${results.etcd.opsPerSecond}/s`, `${ratio(results.emptyRegister.throughput.opsPerSecond, results.etcd.opsPerSecond)}`, ">= 1.0");
row(`register vs etcd put, 64 in flight (${results.loaded} stored)`, `${results.fullRegister.throughput.opsPerSecond}/s`, `etcd ${results.etcdLoaded.opsPerSecond}/s`, `${ratio(results.fullRegister.throughput.opsPerSecond, results.etcdLoaded.opsPerSecond)}`, ">= 1.0");
row("durable: register on 3 nats-servers R3 vs 3-member etcd", `${durable.registry.opsPerSecond}/s`, `etcd ${durable.etcd.opsPerSecond}/s`, `${ratio(durable.registry.opsPerSecond, durable.etcd.opsPerSecond)}`, ">= 1.0");
for (const q of results.queries) {
  row(`list by slug (10 of ${q.instances})`, `p50 ${q.filtered.p50} ms, p99 ${q.filtered.p99} ms`, "", "", q.instances >= 100_000 ? "p99 < 2 ms" : "");
  row(`list page of 1000 (of ${q.instances})`, `p50 ${q.unfilteredPage.p50} ms, p99 ${q.unfilteredPage.p99} ms`, "", "");
  row(`list all ${q.instances}, paged`, `${q.wholeListMs} ms`, "", "");
  row(`memory per 10k instances (at ${q.instances})`, `${(q.rssPer10kBytes / 1024 ** 2).toFixed(1)} MiB`, `RSS ${(q.rssBytes / 1024 ** 2).toFixed(0)} MiB`, "");
  row(`events projected (loading ${q.instances})`, `${q.projectedPerSecond}/s`, "", "");
}
row(
  `${listers.clients} listers, pages of ${listers.pageSize}, ${listers.nodes} nodes beating (${listers.instances} instances)`,
  `p50 ${listers.p50} ms, p99 ${listers.p99} ms`,
  `${listers.pages} pages, max ${listers.max} ms`,
  "",
  "p99 < 50 ms",
);
for (const h of heartbeats) {
  row(`heartbeats, ${h.nodes} nodes @1/s`, `${h.foldedPerSecond}/s folded`, `${h.nodes}/s sent`, `${h.storedPerSecond}/s stored`, "all folded; stored ~0");
}
for (const b of rebuilds) {
  row(`rebuild from ${b.events} events (${b.entities} instances)`, `${b.eventsPerSecond} events/s`, `${b.seconds} s`, "", "");
}
const fleetLabel = `fleet: ${fleet.nodes} nodes, ${fleet.instances} leased instances, ${fleet.steadySeconds}s steady`;
row(`${fleetLabel}: stored writes`, `${fleet.storedWritesPerSecond}/s`, "all the registry's streams", "", "<= 500/s");
row(`${fleetLabel}: CPU`, `registry ${fleet.registryCpuCores} cores`, `nats-server ${fleet.natsCpuCores} cores`, "", "registry <= 0.5");
row(`${fleetLabel}: false expiries`, `${fleet.falseExpiries}`, "", "", "0");
row(`${fleetLabel}: detect p99`, fleet.detectP99Ms === null ? "not all detected" : `${fleet.detectP99Ms} ms`, "past ttl / offline window", "", "<= 1000 ms");
row(`${fleetLabel}: registry RSS`, `${fleet.registryRssMiB} MiB`, "", "", "<= 400 MiB");
const dashboardLabel = `dashboard: ${dashboard.instances} instances, ${dashboard.services} services, ${dashboard.nodes} nodes`;
row(`${dashboardLabel}: first paint`, `index ${dashboard.firstPaintMs.services} ms, fleet ${dashboard.firstPaintMs.fleet} ms, a service ${dashboard.firstPaintMs.service} ms`, "median of 5, a new tab each", "", "< 1000 ms");
row(`${dashboardLabel}: live change`, `index p50 ${dashboard.liveChangeMs.services.p50} ms (max ${dashboard.liveChangeMs.services.max}), a service p50 ${dashboard.liveChangeMs.service.p50} ms (max ${dashboard.liveChangeMs.service.max})`, "status change asked -> shown", "", "< 1000 ms");
row(`${dashboardLabel}: page heap`, `${dashboard.pageHeapMiB} MiB`, `registry RSS ${dashboard.registryRssMiB} MiB`, "");
if (million) {
  const label = `million: ${million.instances} instances, ${million.events} events`;
  const notBuilt = "not built yet";
  row(`${label}: cold start`, `${million.coldStartSeconds} s`, `loaded through the API in ${million.loadSeconds} s`, "", "<= 20 s");
  row(`${label}: registry RSS`, `${million.rssMiB} MiB`, `${Math.round((million.rssMiB * 1024) / million.instances * 1024) / 1024} KiB per instance`, "", "<= 0.5 KB per instance");
  row(`${label}: asOf`, million.asOfMs.withSnapshots ? `p50 ${million.asOfMs.withSnapshots.p50} ms, p99 ${million.asOfMs.withSnapshots.p99} ms` : notBuilt, `without snapshots p50 ${million.asOfMs.withoutSnapshots.p50} ms, p99 ${million.asOfMs.withoutSnapshots.p99} ms`, million.asOfMs.ratio === null ? "" : `${million.asOfMs.ratio}`, "p99 <= 1000 ms");
  row(`${label}: audit log, last hour (first page)`, `p50 ${million.auditSinceMs.p50} ms, p99 ${million.auditSinceMs.p99} ms`, "", "");
  row(`${label}: a process holding 1% of the slugs`, million.partialRssMiB === null ? notBuilt : `${million.partialRssMiB} MiB`, "", "", "<= 5% of a full one");
}
const widths = [0, 1, 2, 3, 4].map((c) => Math.max(...rows.map((r) => r[c]!.length), ["FIGURE", "VALUE", "REFERENCE", "RATIO", "TARGET"][c]!.length));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
process.stdout.write(`${line(["FIGURE", "VALUE", "REFERENCE", "RATIO", "TARGET"])}\n${rows.map(line).join("\n")}\n`);
process.stdout.write(`\n${quick ? "quick" : "full"} run took ${seconds} s on ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.natsServer}, Node ${machine.node}\n`);
await writeFile(
  new URL("./results.json", import.meta.url),
  `${JSON.stringify({ at: new Date().toISOString(), quick, seconds, machine, plan, results: { ...results, fleet, dashboard, ...(million ? { million } : {}) }, durable, listers, heartbeats, rebuilds }, null, 2)}\n`,
);
process.exit(0);
