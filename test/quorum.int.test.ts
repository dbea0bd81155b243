/**
 * Three nats-servers, R3 storage, two registry processes: two servers killed by PID (quorum
 * lost) and started again. Writes meanwhile are refused (503) or stored, never answered 500;
 * nodes that kept beating stay Online throughout; and the buckets catch up with the stream
 * within seconds of quorum coming back, with every acknowledged write in them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { namesFor, VERSION_HEADER } from "../src/contract/names.ts";
import { instanceKey } from "../src/contract/ids.ts";
import { startRegistry, type Registry } from "../src/app/registry.ts";
import { PROJECTOR_DURABLE } from "../src/projector/projector.ts";
import { startCluster } from "./harness/cluster.ts";
import { heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { historyOf, silentLog, testConfig } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const names = namesFor("registry");
const SLUG = "quorum-svc";
const OFFLINE_AFTER_MS = 2000;

const connectTo = (urls: string) => connect({ servers: urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 200 });

/** A registration as a service sends it: the reply code (undefined: registered), or "no answer" at the deadline. */
async function register(nc: NatsConnection, port: number): Promise<{ code: number | "no answer"; id?: string; message?: string }> {
  try {
    const m = await nc.request(`${names.prefix}.instance.register`, JSON.stringify({ url: `http://127.0.0.1:${port}`, slug: SLUG }), { timeout: 15_000, headers: headers() });
    const code = m.headers?.get("Nats-Service-Error-Code");
    const body = m.json<{ instance?: { id: string }; error?: { message: string } }>();
    return code ? { code: Number(code), message: body.error?.message ?? "" } : { code: 200, id: body.instance!.id };
  } catch {
    return { code: "no answer" };
  }
}

test("quorum - two of three servers killed and restarted: no 500, nodes that kept beating stay Online, the buckets catch up within seconds", async (t) => {
  const cluster = await startCluster();
  const registries: { registry: Registry; nc: NatsConnection }[] = [];
  const client = await connectTo(cluster.urls);
  const beat = setInterval(() => publishHeartbeat(client, heartbeat("beating-node")), 300);
  try {
    for (const id of ["quorum-1", "quorum-2"]) {
      const nc = await connectTo(cluster.urls);
      const config = testConfig(cluster.urls, cluster.servers[0]!.dir, { nodeId: id, replicas: 3, heartbeatIntervalMs: 500, offlineAfterMs: OFFLINE_AFTER_MS, httpAddr: "off", storageCheckMs: 600_000 });
      registries.push({ registry: await startRegistry(nc, config, silentLog), nc });
    }
    const nodeIds = ["quorum-1", "quorum-2", "beating-node"];
    const statusOf = async (id: string) => {
      const m = await client.request(`${names.prefix}.node.get`, JSON.stringify({ id }), { timeout: 5000 });
      return m.json<{ node?: { status: string } }>().node?.status;
    };
    await until(async () => (await Promise.all(nodeIds.map(statusOf))).every((s) => s === "Online"), "every node to be Online", 20_000);

    const acked: string[] = [];
    let port = 30000;
    for (let i = 0; i < 10; i++) {
      const r = await register(client, port++);
      if (r.id) acked.push(r.id);
    }
    assert.equal(acked.length, 10, "registrations before the faults");
    const jsm = await jetstreamManager(client);

    t.diagnostic(`servers killed at ${new Date().toISOString()}`);
    await Promise.all([cluster.servers[1]!.kill(), cluster.servers[2]!.kill()]);
    const during = await Promise.all(Array.from({ length: 6 }, () => register(client, port++)));
    t.diagnostic(`during the outage: ${JSON.stringify(during.map((r) => r.code))}`);
    for (const r of during) if (r.id) acked.push(r.id);
    assert.deepEqual(
      during.filter((r) => r.code !== 200 && r.code !== 503 && r.code !== "no answer"),
      [],
      "a write while quorum is lost is stored or refused with 503, never answered 500",
    );

    await Promise.all([cluster.servers[1]!.restart(), cluster.servers[2]!.restart()]);
    const back = Date.now();
    t.diagnostic(`servers restarted at ${new Date(back).toISOString()}`);
    await until(async () => {
      const r = await register(client, port++);
      if (r.id) acked.push(r.id);
      return r.id;
    }, "a registration to succeed once quorum is back", 30_000);

    const kv = `KV_${names.buckets.instance}`;
    await until(
      async () => {
        const consumer = await jsm.consumers.info(names.eventsStream, PROJECTOR_DURABLE);
        if (consumer.num_pending + consumer.num_ack_pending > 0) return false;
        for (const id of acked) {
          const event = await jsm.direct.getMessage(names.eventsStream, { last_by_subj: names.eventSubject("instance", id) });
          const entry = await jsm.direct.getMessage(kv, { last_by_subj: `$KV.${names.buckets.instance}.${instanceKey(SLUG, id)}` });
          if (!event || !entry || Number(entry.header?.get(VERSION_HEADER)) !== event.seq) return false;
        }
        return true;
      },
      "the instances bucket to match the stream, with every acknowledged write",
      20_000,
    );
    t.diagnostic(`bucket caught up ${Date.now() - back} ms after the servers restarted; ${acked.length} acknowledged writes`);

    // Nodes that kept beating never went Offline, during the outage or after it.
    await until(async () => (await Promise.all(nodeIds.map(statusOf))).every((s) => s === "Online"), "every node to read Online", 10_000);
    for (const id of nodeIds) {
      // Right after a restart the stream may still be choosing its leader ("JetStream system temporarily unavailable"): read until it answers.
      let events: Awaited<ReturnType<typeof historyOf>> = [];
      await until(async () => {
        const read = await historyOf(client, names.eventsStream, names.eventSubject("node", id)).catch(() => undefined);
        if (read) events = read;
        return read !== undefined;
      }, `${id}'s history to be readable`, 10_000);
      const types = events.map((e) => e.type);
      assert.ok(!types.includes("NodeWentOffline"), `${id} never went Offline: ${events.map((e) => `${e.type} at ${e.metadata.at} (${e.data.reason ?? ""})`).join(", ")}`);
    }
  } finally {
    clearInterval(beat);
    for (const { registry, nc } of registries) {
      await registry.stop();
      await nc.close();
    }
    await client.close();
    await cluster.stop();
  }
});
