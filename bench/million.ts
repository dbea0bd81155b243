/**
 * State at a million (issue 27): 1,000,000 instances registered through the API and 1,000,000
 * status changes after them (2,000,000 events), as fast as the registry takes them; then
 *
 * - `coldStartSeconds`: a new registry process, from its start to `/readyz` answering 200;
 * - `rssMiB`: that process's RSS once ready and its URL index built (a registration), before any query;
 * - `asOfMs`: `instance.list {slug, asOf}` at random times during the load, p50 and p99, with
 *   snapshots (written by the registry as the load went, REGISTRY_SNAPSHOT_EVENTS' default) and
 *   without them (a process started with REGISTRY_SNAPSHOT_EVENTS=0: the reference, in the same run);
 * - `auditSinceMs`: the first page of `history {since: an hour ago}`, p50 and p99;
 * - `partialRssMiB`: a process holding 1% of the slugs (REGISTRY_SLUGS=svc-000*: 100 of 10,000),
 *   once ready and a list of one of its slugs answered; `partialColdStartSeconds` its start.
 *
 *   node --import tsx bench/million.ts [instances]      (default 1000000)
 *
 * MILLION_KEEP=1 keeps the JetStream store at the end (its directory is logged) to profile against:
 * `nats-server -a 127.0.0.1 -p -1 -js -sd <dir>/store`.
 *
 * Loopback only: the nats-server and the registry processes are started here and stopped.
 */
import { spawn } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { defaultConfig } from "../src/config.ts";
import { Kvm } from "@nats-io/kv";
import { namesFor } from "../src/contract/names.ts";
import type { Manifest } from "../src/eventstore/snapshotLayout.ts";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { freePort } from "../test/harness/ports.ts";
import { percentile, registryRequest as request, rssOf, throughput } from "./lib.ts";

const SLUGS = 10_000;
const IN_FLIGHT = 256;
const SAMPLES = 5;
/** Lists with asOf from snapshots: short each, so enough for a p99 that means something. */
const SNAPSHOT_SAMPLES = 100;
const slugOf = (n: number) => `svc-${String(n % SLUGS).padStart(5, "0")}`;

type Spread = { p50: number; p99: number };
export type MillionBench = {
  instances: number;
  events: number;
  loadSeconds: number;
  coldStartSeconds: number;
  rssMiB: number;
  asOfMs: { withSnapshots: Spread | null; withoutSnapshots: Spread; ratio: number | null };
  /** Snapshots kept at the end of the load, and what the newest holds (its parts, gzipped). */
  snapshots: { kept: number; newestMiB: number; writeSeconds: { total: number; max: number }; catchUpSeconds: number };
  auditSinceMs: Spread;
  partialRssMiB: number | null;
  partialColdStartSeconds: number;
};

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const spread = (xs: number[]): Spread => ({ p50: Math.round(percentile(sorted(xs), 50)), p99: Math.round(percentile(sorted(xs), 99)) });

/** Milliseconds each of `samples` runs of `work` took, one after the other. */
async function timed(samples: number, work: () => Promise<unknown>): Promise<number[]> {
  const took: number[] = [];
  for (let s = 0; s < samples; s++) {
    const started = performance.now();
    await work();
    took.push(performance.now() - started);
  }
  return took;
}

/** The sequence of the newest snapshot (0: none yet). */
async function newestSnapshotSeq(nc: NatsConnection): Promise<number> {
  const kv = await new Kvm(nc).open(namesFor("registry").snapshotsBucket);
  let newest = 0;
  for await (const key of await kv.keys("manifest.>")) newest = Math.max(newest, Number(key.slice("manifest.".length)));
  return newest;
}

/** The snapshots in the bucket, and the size of the newest's parts as stored. */
async function snapshotsKept(nc: NatsConnection): Promise<{ kept: number; newestMiB: number }> {
  const kv = await new Kvm(nc).open(namesFor("registry").snapshotsBucket);
  const keys: string[] = [];
  for await (const key of await kv.keys("manifest.>")) keys.push(key);
  const newest = keys.sort().at(-1);
  if (newest === undefined) return { kept: 0, newestMiB: 0 };
  const manifest = (await kv.get(newest))!.json<Manifest>();
  const packed = await Promise.all(Object.values(manifest.parts).map(async (p) => {
    let bytes = 0;
    for (let c = 0; c < p.chunks; c++) bytes += (await kv.get(`part.${p.digest}.${c}`))?.length ?? 0;
    return bytes;
  }));
  return { kept: keys.length, newestMiB: Math.round((packed.reduce((a, b) => a + b, 0) / 1024 ** 2) * 10) / 10 };
}

/** A registry process (the bundle, as `make run` runs it) from its start until `/readyz` says ready: seconds, and its RSS when asked. */
async function coldStart(url: string, dir: string, env: Record<string, string> = {}): Promise<{ seconds: number; rssNow: () => Promise<number>; stop: () => void }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ["bin/registry.js", "serve"], {
    env: { ...process.env, NATS_URL: url, OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: dir, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_DNS_ADDR: "off", REGISTRY_TIME_TRAVEL_TIMEOUT_MS: "600000", LOG_FORMAT: "json", ...env },
    stdio: "ignore",
  });
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the registry exited while starting (code ${child.exitCode})`);
    if (Date.now() > deadline) throw new Error("the registry was not ready within 300 s");
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (ready?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  return { seconds, rssNow: async () => Math.round((await rssOf(child.pid!)) / 1024 ** 2), stop: () => void child.kill("SIGTERM") };
}

export async function benchMillion(opts: { instances: number; log?: (line: string) => void }): Promise<MillionBench> {
  const log = opts.log ?? (() => undefined);
  const n = opts.instances;
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  let registry: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
  let cold: Awaited<ReturnType<typeof coldStart>> | undefined;
  try {
    registry = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir, REGISTRY_TIME_TRAVEL_TIMEOUT_MS: "600000" });
    const loadStarted = performance.now();
    const loadFrom = Date.now();
    log(`million: registering ${n} instances through the API (${IN_FLIGHT} in flight)`);
    const ids: string[] = new Array(n);
    await throughput(n, IN_FLIGHT, async (i) => {
      ids[i] = (await request(nc, "instance.register", { url: `http://127.${Math.floor(i / 65536) % 250}.${Math.floor(i / 256) % 256}.${1 + (i % 250)}:${10000 + (i % 50000)}`, slug: slugOf(i), tags: ["bench"] })).instance.id;
    });
    log(`million: ${n} status changes through the API`);
    await throughput(n, IN_FLIGHT, async (i) => {
      await request(nc, "instance.status", { id: ids[i], status: i % 2 ? "Healthy" : "Starting" });
    });
    const loadSeconds = Math.round((performance.now() - loadStarted) / 1000);
    const loadTo = Date.now();
    // The registry writes snapshots behind a burst; the measures below are of a registry that has caught up.
    log("million: waiting for the snapshots to catch up with the stream");
    const catchUpStarted = performance.now();
    const jsm = await jetstreamManager(nc);
    const snapshotEvery = defaultConfig().snapshots.everyEvents;
    for (const deadline = Date.now() + 900_000; ; await new Promise((r) => setTimeout(r, 1000))) {
      const last = (await jsm.streams.info(namesFor("registry").eventsStream)).state.last_seq;
      if (last - (await newestSnapshotSeq(nc)) < snapshotEvery) break;
      if (Date.now() > deadline) throw new Error("the snapshots did not catch up with the stream within 15 minutes");
    }
    const catchUpSeconds = Math.round((performance.now() - catchUpStarted) / 1000);
    // What writing the snapshots cost, as the registry logged it.
    const written = registry
      .output()
      .split("\n")
      .filter((line) => line.includes('"wrote a snapshot"'))
      .map((line) => (JSON.parse(line) as { seconds: number }).seconds);
    log(`million: ${written.length} snapshots written during the load, ${written.reduce((a, b) => a + b, 0).toFixed(1)} s in all, the longest ${Math.max(0, ...written)} s`);
    /** A random time during the load, and a random slug. */
    const pastQuery = () => ({ slug: slugOf(Math.floor(Math.random() * SLUGS)), asOf: new Date(loadFrom + Math.random() * (loadTo - loadFrom)).toISOString() });
    await registry.stop();
    registry = undefined;

    log("million: cold start");
    cold = await coldStart(server.url, server.dir);
    // A registration finishes the URL index (built just after the start), so that the RSS holds it.
    await request(nc, "instance.register", { url: "http://127.0.0.1:9", slug: slugOf(0) });
    const rssMiB = await cold.rssNow();
    const coldStartSeconds = cold.seconds;

    const snapshots = { ...(await snapshotsKept(nc)), writeSeconds: { total: Math.round(written.reduce((a, b) => a + b, 0) * 10) / 10, max: Math.max(0, ...written) }, catchUpSeconds };
    log(`million: ${SNAPSHOT_SAMPLES} lists with asOf, from the ${snapshots.kept} snapshots written during the load`);
    const withSnapshots = await timed(SNAPSHOT_SAMPLES, () => request(nc, "instance.list", pastQuery(), 600_000));
    cold.stop();
    log("million: a process that does not use snapshots (REGISTRY_SNAPSHOT_EVENTS=0), for the reference");
    cold = await coldStart(server.url, server.dir, { REGISTRY_SNAPSHOT_EVENTS: "0" });
    log(`million: ${SAMPLES} lists with asOf, without snapshots (each a pass over the stream)`);
    const withoutSnapshots = await timed(SAMPLES, () => request(nc, "instance.list", pastQuery(), 600_000));
    log("million: the audit log's last hour, first page");
    const audit: number[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      const started = performance.now();
      await request(nc, "history", { since: new Date(Date.now() - 3_600_000).toISOString(), limit: 1000 });
      audit.push(performance.now() - started);
    }
    cold.stop();
    log("million: a process holding 1% of the slugs (REGISTRY_SLUGS=svc-000*)");
    cold = await coldStart(server.url, server.dir, { REGISTRY_SLUGS: "svc-000*" });
    await request(nc, "instance.list", { slug: slugOf(7) });
    const partialRssMiB = await cold.rssNow();
    const partialColdStartSeconds = cold.seconds;
    return {
      instances: n,
      events: 2 * n,
      loadSeconds,
      coldStartSeconds,
      rssMiB,
      asOfMs: { withSnapshots: spread(withSnapshots), withoutSnapshots: spread(withoutSnapshots), ratio: Math.round((percentile(sorted(withSnapshots), 99) / percentile(sorted(withoutSnapshots), 99)) * 1000) / 1000 },
      snapshots,
      auditSinceMs: spread(audit),
      partialRssMiB,
      partialColdStartSeconds,
    };
  } finally {
    cold?.stop();
    await registry?.stop();
    await nc.close();
    if (process.env.MILLION_KEEP) {
      await server.halt();
      log(`million: the store is kept in ${server.dir}/store`);
    } else await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const instances = Number(process.argv[2] ?? 1_000_000);
  const started = Date.now();
  const result = await benchMillion({ instances, log: (line) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`) });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(0);
}
