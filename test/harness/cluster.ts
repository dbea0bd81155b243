/**
 * A three-node nats-server cluster with JetStream for a test: free loopback ports, a
 * temporary store per server, each server stopped and restarted by PID on its own port.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageType, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, type NatsServer } from "./natsServer.ts";
import { freePort } from "./ports.ts";
import { until } from "./until.ts";

export type Cluster = { servers: NatsServer[]; urls: string; stop(): Promise<void> };

export async function startCluster(size = 3): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), "registry-cluster-"));
  const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
  const servers: NatsServer[] = [];
  for (let n = 0; n < size; n++) {
    const conf = join(dir, `n${n + 1}.conf`);
    const others = routes.filter((_, i) => i !== n).map((p) => `nats-route://127.0.0.1:${p}`);
    await writeFile(
      conf,
      [
        `server_name: n${n + 1}`,
        `jetstream { store_dir: "${join(dir, `n${n + 1}`)}" }`,
        `cluster { name: registry-test, listen: 127.0.0.1:${routes[n]}, routes: [${others.join(", ")}] }`,
      ].join("\n"),
    );
    servers.push(await startNatsServer(["-c", conf], { ownStore: true }));
  }
  const urls = servers.map((s) => s.url).join(",");
  const nc = await connect({ servers: urls.split(",") });
  try {
    await until(async () => (await (await jetstreamManager(nc)).getAccountInfo()) !== undefined, "the cluster to elect a JetStream leader", 30_000);
    // A leader is not yet every peer: until each server has joined, an R3 stream has "no suitable peers for placement".
    await until(
      async () => {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "PLACEMENT_PROBE", subjects: ["placement.probe"], num_replicas: size, storage: StorageType.Memory });
        return jsm.streams.delete("PLACEMENT_PROBE");
      },
      `an R${size} stream to be placed on the cluster`,
      30_000,
    );
  } finally {
    await nc.close();
  }
  return {
    servers,
    urls,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
