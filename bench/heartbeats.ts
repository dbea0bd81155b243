/**
 * Heartbeat ingest: N simulated nodes each heartbeat once a second (spread evenly over the
 * second) into a registry running as its own process; we measure the rate it folds, from its
 * own counter (`registry_heartbeats_total{outcome="folded"}` on /metrics), and the writes the
 * heartbeats cost (messages stored in the nodes bucket while they beat). Heartbeats are folded
 * in memory (issue 24), so how far a node's stored lastHeartbeat trails is by design (a record
 * every 5 minutes) and no longer a lag: bench/fleet.ts measures how soon a silent node is seen.
 *
 *   node --import tsx bench/heartbeats.ts [N ...]     (default 1000; BENCH_SECONDS=20)
 *
 * Loopback only: the nats-server and the registry are started here and stopped at the end.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { heartbeat, publishHeartbeat } from "../test/harness/nodes.ts";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";

const INTERVAL_MS = 1000;
const WARMUP_MS = 3000;
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);

export type HeartbeatResult = {
  nodes: number;
  seconds: number;
  published: number;
  folded: number;
  foldedPerSecond: number;
  /** Messages stored in the nodes bucket per second while the nodes beat steadily. */
  storedPerSecond: number;
};

/** The registry's count of heartbeats folded so far, from its /metrics. */
async function foldedSoFar(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return Number(/registry_heartbeats_total\{outcome="folded"\} (\d+)/.exec(text)?.[1] ?? NaN);
}

export async function benchHeartbeats(n: number, durationS = seconds): Promise<HeartbeatResult> {
  const server = await startNatsServer();
  const registry = await spawnRegistry(server.url, {
    OB_NODE_ID: "bench-registry",
    REGISTRY_DATA_DIR: server.dir,
    REGISTRY_HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
  });
  const nc = await connect({ servers: server.url });
  let published = 0;
  try {
    const http = /"http":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(registry.output())?.[1];
    if (!http) throw new Error("the registry did not say its HTTP address");
    const jsm = await jetstreamManager(nc);
    const storedInNodes = async () => (await jsm.streams.info("KV_registry_nodes")).state.last_seq;
    const ids = Array.from({ length: n }, (_, i) => `sim-${i}`);
    const started = Date.now();
    const measureFrom = started + WARMUP_MS;
    const end = measureFrom + durationS * 1000;
    let before: { folded: number; stored: number; at: number } | undefined;
    for (let tick = 0; Date.now() < end; tick++) {
      // One slice every 10 ms: each node heartbeats once per INTERVAL_MS.
      const slices = INTERVAL_MS / 10;
      const slice = tick % slices;
      for (let i = slice; i < n; i += slices) {
        publishHeartbeat(nc, heartbeat(ids[i]!));
        published++;
      }
      if (!before && Date.now() >= measureFrom) before = { folded: await foldedSoFar(`${http}/metrics`), stored: await storedInNodes(), at: Date.now() };
      await new Promise((r) => setTimeout(r, Math.max(0, started + (tick + 1) * 10 - Date.now())));
    }
    const measuredS = (Date.now() - before!.at) / 1000;
    const folded = (await foldedSoFar(`${http}/metrics`)) - before!.folded;
    return {
      nodes: n,
      seconds: durationS,
      published,
      folded,
      foldedPerSecond: Math.round(folded / measuredS),
      storedPerSecond: Math.round(((await storedInNodes()) - before!.stored) / measuredS),
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
    process.stdout.write(`${n} nodes @1/s for ${r.seconds}s: folded ${r.foldedPerSecond}/s (of ${n}/s); stored ${r.storedPerSecond} messages/s in the nodes bucket\n`);
  }
}
