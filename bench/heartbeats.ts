/**
 * Heartbeat ingest: N simulated nodes each heartbeat once a second (spread evenly over
 * the second) into a registry running as its own process; we measure the rate held and
 * how far each node's lastHeartbeat in registry_nodes trails real time.
 *
 *   node --import tsx bench/heartbeats.ts [N ...]     (default 1000; BENCH_SECONDS=20)
 *
 * Loopback only: the nats-server and the registry are started here and stopped at the end.
 */
import { KvWatchInclude, Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { Node } from "../src/contract/schemas.ts";
import { heartbeat, publishHeartbeat } from "../test/harness/nodes.ts";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { percentile } from "./lib.ts";

const INTERVAL_MS = 1000;
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);


export type HeartbeatResult = {
  nodes: number;
  seconds: number;
  published: number;
  folded: number;
  foldedPerSecond: number;
  lagMs: { p50: number; p99: number; max: number };
  /** The oldest lastHeartbeat among all nodes, sampled every second after warm-up. */
  worstStalenessMs: number;
};

export async function benchHeartbeats(n: number, durationS = seconds): Promise<HeartbeatResult> {
  const server = await startNatsServer();
  const registry = await spawnRegistry(server.url, {
    OB_NODE_ID: "bench-registry",
    REGISTRY_DATA_DIR: server.dir,
    REGISTRY_HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
  });
  const nc = await connect({ servers: server.url });
  const lags: number[] = [];
  const latest = new Map<string, number>();
  let folded = 0;
  let published = 0;
  try {
    const kv = await new Kvm(nc).open("registry_nodes");
    const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    const warmupEnds = Date.now() + 3000;
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const node = e.json<Node>();
        if (!node.lastHeartbeat) continue;
        const at = Date.parse(node.lastHeartbeat);
        latest.set(node.id, at);
        if (Date.now() > warmupEnds) {
          folded++;
          lags.push(Date.now() - at);
        }
      }
    })();

    const ids = Array.from({ length: n }, (_, i) => `sim-${i}`);
    const started = Date.now();
    const end = started + 3000 + durationS * 1000;
    let worstStalenessMs = 0;
    let nextSample = warmupEnds + 1000;
    for (let tick = 0; Date.now() < end; tick++) {
      // One slice every 10 ms: each node heartbeats once per INTERVAL_MS.
      const slices = INTERVAL_MS / 10;
      const slice = tick % slices;
      for (let i = slice; i < n; i += slices) {
        publishHeartbeat(nc, heartbeat(ids[i]!));
        published++;
      }
      const wake = started + (tick + 1) * 10;
      if (Date.now() >= nextSample) {
        nextSample += 1000;
        const now = Date.now();
        let oldest = now;
        for (const id of ids) oldest = Math.min(oldest, latest.get(id) ?? 0);
        worstStalenessMs = Math.max(worstStalenessMs, now - oldest);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, wake - Date.now())));
    }
    watch.stop();
    lags.sort((a, b) => a - b);
    return {
      nodes: n,
      seconds: durationS,
      published,
      folded,
      foldedPerSecond: Math.round(folded / durationS),
      lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.at(-1) ?? NaN },
      worstStalenessMs,
    };
  } finally {
    await nc.close();
    await registry.stop();
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Run alone: node --import tsx bench/heartbeats.ts [N ...]
  for (const n of counts.length ? counts : [1000]) {
    const r = await benchHeartbeats(n);
    process.stdout.write(
      `${n} nodes @1/s for ${r.seconds}s: folded ${r.foldedPerSecond}/s (of ${n}/s); lag p50 ${r.lagMs.p50} ms, p99 ${r.lagMs.p99} ms, max ${r.lagMs.max} ms; ` +
        `oldest lastHeartbeat ${r.worstStalenessMs} ms behind (limit ${2 * INTERVAL_MS} ms)\n`,
    );
  }
}
