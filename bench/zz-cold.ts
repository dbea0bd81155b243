import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "/work/main/test/harness/natsServer.ts";
import { spawnRegistry } from "/work/main/test/harness/registry.ts";
import { loadInstances } from "/work/main/bench/load.ts";
import { rssOf } from "/work/main/bench/lib.ts";
const N = Number(process.argv[2] ?? 1_000_000);
const server = await startNatsServer();
const nc = await connect({ servers: server.url });
let reg = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir });
const t0 = Date.now();
const { projectedPerSecond } = await loadInstances(nc, 0, N, 1000);
console.log("loaded", N, "in", (Date.now() - t0) / 1000, "s", projectedPerSecond, "/s; rss", Math.round((await rssOf(reg.child.pid!)) / 2 ** 20), "MiB");
await reg.stop();
const t1 = Date.now();
try {
  reg = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir });
  console.log("cold start", (Date.now() - t1) / 1000, "s; rss", Math.round((await rssOf(reg.child.pid!)) / 2 ** 20), "MiB");
} catch (e) { console.log("cold start failed after", (Date.now() - t1) / 1000, "s", String(e).slice(-1500)); }
await reg.stop(); await nc.close(); await server.stop();
process.exit(0);
