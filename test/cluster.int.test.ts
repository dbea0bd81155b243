/**
 * A three-node NATS cluster with R3 streams and buckets: one nats-server stopped and
 * restarted under a load of registrations, and one registry process killed, lose no
 * acknowledged command; the registry keeps answering, a watcher keeps up, and the
 * restarted server catches up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/index.ts";
import { startCluster } from "./harness/cluster.ts";
import { spawnRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

test("cluster - R3 on three servers: a server stopped and restarted, and a registry killed, under load lose no acknowledged registration", async (t) => {
  const cluster = await startCluster();
  const env = (id: string) => ({ REGISTRY_REPLICAS: "3", OB_NODE_ID: id, OB_SELF_URL: "http://127.0.0.1:11337", REGISTRY_DATA_DIR: cluster.servers[0]!.dir });
  const doomed = await spawnRegistry(cluster.urls, env("cluster-1"));
  const survivor = await spawnRegistry(cluster.urls, env("cluster-2"));
  const nc = await connect({ servers: cluster.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const client = new RegistryClient(nc, { timeoutMs: 3000 });
  const acked: string[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.streams.info("REGISTRY_EVENTS")).config.num_replicas, 3);
    assert.equal((await jsm.streams.info("KV_registry_instances")).config.num_replicas, 3);
    const watcher = await client.discover("load-svc");

    let stop = false;
    let port = 20000;
    const workers = [0, 1, 2, 3].map(async () => {
      while (!stop && port < 23000) {
        const url = `http://127.0.0.1:${port++}`;
        try {
          acked.push((await client.registerInstance({ url, slug: "load-svc" })).id);
        } catch {
          // not acknowledged (a leader election, a killed process): may or may not be written
        }
      }
    });
    await until(() => acked.length >= 100, "registrations before the faults", 30_000);
    await cluster.servers[2]!.halt();
    const duringOutage = acked.length;
    await until(() => acked.length >= duringOutage + 100, "registrations while a server is down", 60_000);
    await cluster.servers[2]!.restart();
    doomed.child.kill("SIGKILL");
    const afterKill = acked.length;
    await until(() => acked.length >= afterKill + 100, "registrations after a registry was killed", 60_000);
    stop = true;
    await Promise.all(workers);

    const found = new Set((await client.listInstances({ slug: "load-svc" })).map((i) => i.id));
    const missing = acked.filter((id) => !found.has(id));
    t.diagnostic(`acknowledged ${acked.length}, found ${acked.length - missing.length} of them (${found.size} listed)`);
    assert.deepEqual(missing, [], "every acknowledged registration is there");
    await until(() => watcher.instances().length === found.size, "the watcher to have every instance", 20_000);
    watcher.stop();
    await until(async () => {
      const info = await jsm.streams.info("REGISTRY_EVENTS");
      return (info.cluster?.replicas ?? []).length === 2 && info.cluster!.replicas!.every((r) => r.current);
    }, "the restarted server's replica to be current again", 30_000);
  } catch (err) {
    t.diagnostic(`registry 1: ${doomed.output().split("\n").filter((l) => !l.includes('"level":30')).slice(-8).join("\n")}`);
    t.diagnostic(`registry 2: ${survivor.output().split("\n").filter((l) => !l.includes('"level":30')).slice(-8).join("\n")}`);
    throw err;
  } finally {
    await nc.close();
    await survivor.stop();
    await doomed.stop();
    await cluster.stop();
  }
});
