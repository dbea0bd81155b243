/**
 * Faults and hostile data, each reproduced against real nats-servers and registry
 * processes: junk in the buckets and the stream, server restarts and kills, registry
 * SIGKILLs, hostile heartbeats, reused request ids, rebuilds on a live registry.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/index.ts";
import { namesFor } from "../src/contract/names.ts";
import { provisionRegistry, rebuildBuckets } from "../src/app/storage.ts";
import { clientFor, historyOf, runRegistryCommand, silentLog, spawnRegistry, startRegistryOn, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { startNatsServer } from "./harness/natsServer.ts";
import { heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { until } from "./harness/until.ts";

const names = namesFor("registry");
const processEnv = (dir: string, id: string) => ({ OB_NODE_ID: id, OB_SELF_URL: "http://127.0.0.1:11337", REGISTRY_DATA_DIR: dir });

describe("faults: junk in the buckets", () => {
  test("faults - a null KV value neither stops the registry nor breaks discover().pick()", async () => {
    const server = await startNatsServer();
    const proc = await spawnRegistry(server.url, { ...processEnv(server.dir, "junk-1"), REGISTRY_HEALTH_TICK_MS: "50" });
    const c = await clientFor(server.url);
    try {
      const kv = await new Kvm(c.nc).open(names.buckets.instance);
      await c.call("instance.register", { url: "http://127.0.0.1:7001", slug: "user-svc", status: "Healthy" });
      for (const [key, value] of [["x.y", "null"], ["user-svc.junk", "null"], ["user-svc.text", "not json"], ["user-svc.half", '{"id":"half"}']]) {
        await kv.put(key!, value!);
      }
      const status = await until(async () => {
        const s = (await c.call("health.status")).body;
        return s.unreadable?.kvEntries >= 4 ? s : undefined;
      }, "the registry to count the four unreadable entries");
      assert.ok(status.unreadable.kvEntries >= 4);
      const list = await c.call("instance.list", { slug: "user-svc" });
      assert.equal(list.code, undefined);
      assert.deepEqual(list.body.instances.map((i: { url: string }) => i.url), ["http://127.0.0.1:7001"]);
      assert.equal(proc.child.exitCode, null, "still running after health ticks over the junk");
      assert.match(proc.output(), /KV entry cannot be read; skipped/);

      const client = new RegistryClient(c.nc);
      const users = await client.discover("user-svc");
      try {
        assert.equal(users.pick()?.url, "http://127.0.0.1:7001");
        assert.equal(users.instances().length, 1);
      } finally {
        users.stop();
      }
    } finally {
      await c.nc.close();
      await proc.stop();
      await server.stop();
    }
  });

  test("faults - a purged bucket does not stop later starts, and is filled again from the stream", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    try {
      let proc = await spawnRegistry(server.url, processEnv(server.dir, "purge-1"));
      await c.call("definition.save", { definition: { id: "kept", image: { name: "nginx" } } });
      await proc.stop();
      await c.jsm.streams.purge(`KV_${names.buckets.definition}`);
      proc = await spawnRegistry(server.url, processEnv(server.dir, "purge-1"));
      try {
        const got = await c.call("definition.get", { id: "kept" });
        assert.equal(got.code, undefined, JSON.stringify(got.body));
        assert.equal(got.body.definition.image.name, "nginx");
      } finally {
        await proc.stop();
      }
    } finally {
      await c.nc.close();
      await server.stop();
    }
  });
});

describe("faults: forged entries", () => {
  test("faults - an entry claiming a version no event has (a forged Registry-Version) does not survive a rebuild", async () => {
    const r = await startTestRegistry({ offlineAfterMs: 600_000 });
    try {
      const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:7051", slug: "forge-svc", tags: ["real"] })).body;
      const h = natsHeaders();
      h.set("Registry-Version", "999999999");
      const at = new Date().toISOString();
      const fake = { id: "inst_forged", url: "http://127.0.0.1:7052", slug: "forge-svc", tags: [], status: "Healthy", createdAt: at, updatedAt: at };
      await jetstream(r.nc).publish(`$KV.${names.buckets.instance}.forge-svc.inst_forged`, JSON.stringify(fake), { headers: h });
      await jetstream(r.nc).publish(`$KV.${names.buckets.instance}.forge-svc.${instance.id}`, JSON.stringify({ ...instance, tags: ["forged"] }), { headers: h });
      await until(async () => (await r.call("instance.get", { id: "inst_forged" })).code === undefined, "the forged entry to be mirrored");
      const rebuilt = await rebuildBuckets(r.nc, names, silentLog);
      assert.ok(rebuilt.removed >= 1 && rebuilt.written >= 1, JSON.stringify(rebuilt));
      await until(async () => (await r.call("instance.get", { id: "inst_forged" })).code === 404, "the forged entry to be gone");
      assert.deepEqual((await r.call("instance.get", { id: instance.id })).body.instance.tags, ["real"]);
    } finally {
      await r.stop();
    }
  });
});

describe("faults: a poisoned event stream", () => {
  test("faults - unreadable events: rebuild succeeds and keeps the buckets, registering the poisoned subject's URL works", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    const js = jetstream(c.nc);
    try {
      let proc = await spawnRegistry(server.url, processEnv(server.dir, "poison-1"));
      await c.call("definition.save", { definition: { id: "survivor", image: { name: "nginx" } } });
      const { instance } = (await c.call("instance.register", { url: "http://127.0.0.1:7101", slug: "poison-svc" })).body;
      await proc.stop();

      // The derived id of a URL nobody registered yet, and two unreadable events on it; one more on another subject.
      const victimUrl = "http://127.0.0.1:7102";
      const { instanceIdForUrl } = await import("../src/commands/registryCommands.ts");
      const victim = instanceIdForUrl(victimUrl);
      await js.publish(names.eventSubject("instance", victim), "not json at all");
      await js.publish(names.eventSubject("instance", victim), JSON.stringify({ type: "InstanceTeleported", data: {} }));
      await js.publish(names.eventSubject("definition", "ghost"), JSON.stringify({ type: "DefinitionSaved", data: { definition: null } }));

      const rebuilt = await runRegistryCommand(server.url, "rebuild");
      assert.equal(rebuilt.code, 0, rebuilt.output);
      assert.match(rebuilt.output, /event cannot be read; skipped/);
      const kv = await new Kvm(c.nc).open(names.buckets.definition);
      assert.equal((await kv.get("survivor"))?.json<{ id: string }>().id, "survivor", "the bucket kept its entries");

      proc = await spawnRegistry(server.url, processEnv(server.dir, "poison-1"));
      try {
        assert.equal((await c.call("instance.get", { id: instance.id })).body.instance.url, "http://127.0.0.1:7101");
        const reg = await c.call("instance.register", { url: victimUrl, slug: "poison-svc" });
        assert.equal(reg.code, undefined, JSON.stringify(reg.body));
        assert.equal(reg.body.instance.id, victim);
        assert.equal((await c.call("instance.get", { id: victim })).body.instance.url, victimUrl);
      } finally {
        await proc.stop();
      }
    } finally {
      await c.nc.close();
      await server.stop();
    }
  });
});

describe("faults: nats-server restarts", () => {
  test("faults - after a nats-server restart heartbeats keep nodes Online", async () => {
    const server = await startNatsServer();
    const { registry, nc } = await startRegistryOn(server.url, server.dir, { heartbeatIntervalMs: 200, offlineAfterMs: 5000 });
    const c = await clientFor(server.url);
    try {
      await until(async () => (await c.call("node.get", { id: "self-node" })).body?.node?.status === "Online", "the node to join");
      await c.nc.close();
      await server.halt();
      await server.restart();
      const restartedAt = Date.now();
      const c2 = await clientFor(server.url);
      try {
        // Heartbeats heard for longer than the offline window after the restart, with the node Online all along.
        await until(async () => (await c2.call("node.get", { id: "self-node" })).body?.node !== undefined, "the registry to answer after the restart", 15_000);
        await until(() => Date.now() > restartedAt + 6000, "past the offline window after the restart", 15_000);
        const node = (await c2.call("node.get", { id: "self-node" })).body.node;
        assert.equal(node.status, "Online");
        const history = await historyOf(c2.nc, names.eventsStream, names.eventSubject("node", "self-node"));
        assert.deepEqual(history.map((e) => e.type), ["NodeJoined"], "never went offline");
      } finally {
        await c2.nc.close();
      }
    } finally {
      await registry.stop();
      await nc.close();
      await server.stop();
    }
  });

  test("faults - SIGKILL of nats-server under load: every acknowledged registration is kept", async () => {
    const server = await startNatsServer();
    const proc = await spawnRegistry(server.url, processEnv(server.dir, "load-1"));
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const client = new RegistryClient(nc, { timeoutMs: 2000 });
    const acked: string[] = [];
    try {
      let stop = false;
      const load = (async () => {
        for (let n = 0; !stop && n < 2000; n++) {
          try {
            acked.push((await client.registerInstance({ url: `http://127.0.0.1:${30000 + n}`, slug: "load-svc" })).id);
          } catch {
            // refused or timed out while the server is down: not acknowledged
          }
        }
      })();
      await until(() => acked.length >= 50, "some registrations before the kill");
      await server.kill();
      await server.restart();
      await until(() => acked.length >= 150, "registrations after the restart", 20_000);
      stop = true;
      await load;
      const listed = new Set((await client.listInstances({ slug: "load-svc" })).map((i) => i.id));
      const missing = acked.filter((id) => !listed.has(id));
      assert.deepEqual(missing, [], "every acknowledged registration is listed");
    } finally {
      await nc.close();
      await proc.stop();
      await server.stop();
    }
  });

  test("faults - SIGTERM while nats-server is down stops cleanly, with exit code 0", async () => {
    const server = await startNatsServer();
    const proc = await spawnRegistry(server.url, processEnv(server.dir, "term-1"));
    try {
      await server.kill();
      const exited = new Promise<number | null>((resolve) => proc.child.once("exit", resolve));
      proc.child.kill("SIGTERM");
      const code = await exited;
      assert.equal(code, 0, proc.output());
      assert.match(proc.output(), /"stopped"/);
      assert.doesNotMatch(proc.output(), /Unhandled|unhandled/);
    } finally {
      await server.stop();
    }
  });
});

describe("faults: registry SIGKILL", () => {
  test("faults - events a killed process appended and took from the projector are in the buckets within seconds", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    const js = jetstream(c.nc);
    try {
      await provisionRegistry(c.nc, c.jsm, names);
      const at = new Date().toISOString();
      for (let n = 0; n < 5; n++) {
        const instance = { id: `inst_orphan_${n}`, url: `http://127.0.0.1:${7200 + n}`, slug: "orphan-svc", tags: [], status: "Unknown", createdAt: at, updatedAt: at };
        await js.publish(names.eventSubject("instance", instance.id), JSON.stringify({ type: "InstanceRegistered", data: { instance }, metadata: { at } }));
      }
      // A process that pulled them from the shared projector consumer and died before acknowledging.
      const doomed = await connect({ servers: server.url });
      const consumer = await jetstream(doomed).consumers.get(names.eventsStream, "projector");
      const taken = await consumer.fetch({ max_messages: 5, expires: 2000 });
      let n = 0;
      for await (const _m of taken) if (++n === 5) break;
      assert.equal(n, 5);
      await doomed.close();
      assert.equal((await c.jsm.consumers.info(names.eventsStream, "projector")).config.ack_policy, AckPolicy.Explicit);

      const { registry, nc } = await startRegistryOn(server.url, server.dir);
      try {
        const started = Date.now();
        await until(async () => (await c.call("instance.list", { slug: "orphan-svc" })).body.instances.length === 5, "the orphaned events to be projected", 10_000);
        assert.ok(Date.now() - started < 6000, `projected after ${Date.now() - started} ms`);
      } finally {
        await registry.stop();
        await nc.close();
      }
    } finally {
      await c.nc.close();
      await server.stop();
    }
  });

  test("faults - SIGKILL of a registry under load: every acknowledged command is in the stream and the buckets", async () => {
    const server = await startNatsServer();
    const doomed = await spawnRegistry(server.url, processEnv(server.dir, "kill-1"));
    const survivor = await spawnRegistry(server.url, processEnv(server.dir, "kill-2"));
    const nc = await connect({ servers: server.url });
    const client = new RegistryClient(nc, { timeoutMs: 2000 });
    const acked: string[] = [];
    try {
      let stop = false;
      const workers = [0, 1, 2, 3].map(async (w) => {
        for (let n = 0; !stop && n < 1000; n++) {
          try {
            acked.push((await client.registerInstance({ url: `http://127.0.0.1:${40000 + w * 1000 + n}`, slug: "kill-svc" })).id);
          } catch {
            // answered by the killed process: not acknowledged
          }
        }
      });
      await until(() => acked.length >= 100, "registrations before the kill");
      doomed.child.kill("SIGKILL");
      await until(() => acked.length >= 300, "registrations after the kill", 20_000);
      stop = true;
      await Promise.all(workers);
      const events = await c_subjects(nc);
      for (const id of acked) assert.ok(events.has(names.eventSubject("instance", id)), `${id} is in the stream`);
      const started = Date.now();
      // Everything in the stream, acknowledged or not, reaches the buckets within seconds.
      await until(async () => (await client.listInstances({ slug: "kill-svc" })).length === events.size, "every appended registration in the bucket", 10_000);
      assert.ok(Date.now() - started < 6000);
    } finally {
      await nc.close();
      await survivor.stop();
      await doomed.stop();
      await server.stop();
    }
  });
});

/** The instance subjects in the event stream. */
async function c_subjects(nc: Awaited<ReturnType<typeof connect>>): Promise<Set<string>> {
  const c = await clientFor(nc.getServer().startsWith("nats://") ? nc.getServer() : `nats://${nc.getServer()}`);
  try {
    const info = await c.jsm.streams.info(names.eventsStream, { subjects_filter: names.eventSubject("instance", "*") });
    return new Set(Object.keys(info.state.subjects ?? {}));
  } finally {
    await c.nc.close();
  }
}

describe("faults: hostile heartbeats", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry({ heartbeatIntervalMs: 200, offlineAfterMs: 1000 });
  });
  after(async () => r.stop());

  test("faults - a heartbeat dated in 2100 neither freezes its node nor keeps it Online", async () => {
    publishHeartbeat(r.nc, heartbeat("future-node", { at: new Date("2100-01-01T00:00:00Z") }));
    await until(async () => (await r.call("node.get", { id: "future-node" })).body?.node?.status === "Online", "the node to join");
    const first = (await r.call("node.get", { id: "future-node" })).body.node;
    assert.ok(Date.parse(first.lastHeartbeat) < Date.parse("2099-01-01"), `the registry's clock decides: ${first.lastHeartbeat}`);
    publishHeartbeat(r.nc, heartbeat("future-node"));
    await until(async () => (await r.call("node.get", { id: "future-node" })).body.node.lastHeartbeat !== first.lastHeartbeat, "a later real heartbeat to count");
    await until(async () => (await r.call("node.get", { id: "future-node" })).body.node.status === "Offline", "the silent node to go Offline", 10_000);
  });

  test("faults - a heartbeat whose url is not http(s) is refused: node URLs are links", async () => {
    const h = heartbeat("scripted") as Record<string, unknown>;
    h.url = "javascript:alert(1)";
    r.nc.publish(names.heartbeatSubject("scripted"), JSON.stringify(h));
    await until(async () => (await r.call("health.status")).body.unreadable.heartbeats >= 1, "the heartbeat to be refused");
    assert.equal((await r.call("node.get", { id: "scripted" })).code, 404);
  });

  test("faults - a heartbeat with fields this version does not know is accepted, GPU telemetry optional", async () => {
    const h = heartbeat("newer-agent") as Record<string, unknown>;
    h.agentVersion = "9.9.9";
    h.gpus = [
      { id: "gpu-0", intraNodeId: 0, name: "Future GPU", busId: "0:1", memoryUsage: 10, memoryTotal: 100, gpuUtilization: 5, mig: { enabled: true } },
      { id: "gpu-1", intraNodeId: 1, name: "AMD GPU", busId: "0:2", memoryUsage: 20, memoryTotal: 200, gpuUtilization: 1 },
    ];
    r.nc.publish(names.heartbeatSubject("newer-agent"), JSON.stringify(h));
    const node = await until(async () => (await r.call("node.get", { id: "newer-agent" })).body?.node, "the node to join");
    assert.equal(node.status, "Online");
    assert.equal(node.gpus.length, 2);
    assert.equal(node.gpus[0].mig, undefined, "unknown fields are dropped");
    assert.equal(node.agentVersion, undefined);
    const picked = (await r.call("node.select", { gpuCount: 1, minGpuFreeMemoryMiB: 150 })).body.nodes.map((n: { id: string }) => n.id);
    assert.ok(picked.includes("newer-agent"));
  });
});

describe("faults: request ids and rebuilds", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry({ heartbeatIntervalMs: 200, offlineAfterMs: 1000, healthTickMs: 100 });
  });
  after(async () => r.stop());

  test("faults - the same Nats-Msg-Id on a different write writes it, and a true retry writes once", async () => {
    const a = await r.call("instance.register", { url: "http://127.0.0.1:7301", slug: "msgid-svc" }, { msgId: "reused-id" });
    const b = await r.call("instance.register", { url: "http://127.0.0.1:7302", slug: "msgid-svc" }, { msgId: "reused-id" });
    assert.equal(b.code, undefined);
    assert.equal(b.body.instance?.url, "http://127.0.0.1:7302");
    assert.notEqual(a.body.instance.id, b.body.instance.id);
    const retry = await r.call("instance.register", { url: "http://127.0.0.1:7302", slug: "msgid-svc", tags: ["t"] }, { msgId: "retry-id" });
    const before = await r.eventCount();
    const again = await r.call("instance.register", { url: "http://127.0.0.1:7302", slug: "msgid-svc", tags: ["t"] }, { msgId: "retry-id" });
    assert.deepEqual(again.body, retry.body);
    assert.equal(await r.eventCount(), before);
    const status = await r.call("instance.status", { id: b.body.instance.id, status: "Stopping" }, { msgId: "retry-id" });
    assert.equal(status.body.instance.status, "Stopping", "another command under the same id on the same instance is written");
  });

  test("faults - a rebuild on a live registry changes nothing that is true now", async () => {
    const client = new RegistryClient(r.nc);
    const me = await client.selfRegister({ url: "http://127.0.0.1:7401", slug: "renewing-svc", ttlSeconds: 1 });
    try {
      await until(async () => (await r.call("node.get", { id: "self-node" })).body?.node?.status === "Online", "the node to join");
      // The scenario needs last events older than the offline window and the lease: only telemetry is recent.
      const joined = (await historyOf(r.nc, names.eventsStream, names.eventSubject("node", "self-node")))[0]!;
      await until(() => Date.now() - Date.parse(joined.metadata.at) > 1500 && Date.now() - Date.parse(me.instance().createdAt) > 1500, "the last events to be older than ttl and offline window");
      const before = Date.now();
      const stored = (await r.call("node.get", { id: "self-node" })).body.node;
      await rebuildBuckets(r.nc, names, silentLog);
      const node = (await r.call("node.get", { id: "self-node" })).body.node;
      assert.ok(Date.parse(node.lastHeartbeat) >= Date.parse(stored.lastHeartbeat), `node telemetry kept: ${node.lastHeartbeat}, was ${stored.lastHeartbeat}`);
      // Long enough for the lease (1 s, renewals folded in memory) and the node (1 s) to lapse had the rebuild put old times back.
      await until(() => Date.now() > before + 2500, "well past the lease and the offline window after the rebuild", 10_000);
      assert.equal((await r.call("instance.get", { id: me.instance().id })).body.instance.status, "Healthy");
      const nodeEvents = (await historyOf(r.nc, names.eventsStream, names.eventSubject("node", "self-node"))).map((e) => e.type);
      assert.deepEqual(nodeEvents, ["NodeJoined"]);
      const instanceEvents = (await historyOf(r.nc, names.eventsStream, names.eventSubject("instance", me.instance().id))).map((e) => e.type);
      assert.ok(!instanceEvents.includes("InstanceExpired"), instanceEvents.join());
      assert.ok(!instanceEvents.includes("InstanceStatusChanged") || instanceEvents.filter((t) => t === "InstanceStatusChanged").length === 1, instanceEvents.join());
    } finally {
      await me.stop();
    }
  });

  test("faults - a dead instance with a check and a lease changes status once per cause, no flapping", async () => {
    const reg = await r.call("instance.register", {
      url: "http://127.0.0.1:1/",
      slug: "dead-svc",
      ttlSeconds: 0.3,
      graceSeconds: 2,
      check: { type: "http", intervalMs: 100, timeoutMs: 50, failuresBeforeChange: 1 },
    });
    const id = reg.body.instance.id;
    await until(async () => (await historyOf(r.nc, names.eventsStream, names.eventSubject("instance", id))).some((e) => e.type === "InstanceExpired"), "the instance to expire", 10_000);
    const changes = (await historyOf(r.nc, names.eventsStream, names.eventSubject("instance", id))).filter((e) => e.type === "InstanceStatusChanged");
    assert.ok(changes.length <= 2, changes.map((e) => `${e.data.from}->${e.data.to} (${e.data.cause})`).join(", "));
  });
});

describe("faults: bounded streams and waits", () => {
  test("faults - at REGISTRY_EVENTS_MAX_BYTES writes are refused with a 503 that says what to do, and nothing is written", async () => {
    const r = await startTestRegistry({ eventsMaxBytes: 4096, offlineAfterMs: 600_000 });
    try {
      let refused: Awaited<ReturnType<typeof r.call>> | undefined;
      for (let n = 0; n < 100 && !refused; n++) {
        const reply = await r.call("instance.register", { url: `http://127.0.0.1:${7500 + n}`, slug: "full-svc" });
        if (reply.code !== undefined) refused = reply;
        else await r.registry.capacity.refresh();
      }
      assert.ok(refused, "some write was refused");
      assert.equal(refused.code, 503);
      assert.match(refused.body.error.message, /takes no more events .*REGISTRY_EVENTS_MAX_BYTES.*nothing was written/);
      const before = await r.eventCount();
      assert.equal((await r.call("instance.register", { url: "http://127.0.0.1:7999", slug: "full-svc" })).code, 503);
      assert.equal(await r.eventCount(), before);
      const status = (await r.call("health.status")).body;
      assert.ok(status.events.bytes >= status.events.maxBytes);
      assert.equal((await r.call("instance.list", { slug: "full-svc" })).code, undefined, "reads still answer");
    } finally {
      await r.stop();
    }
  });

  test("faults - per-entity history is bounded and keeps each entity's latest event, so a rebuild restores it", async () => {
    const r = await startTestRegistry({ eventsHistoryPerEntity: 3, offlineAfterMs: 600_000 });
    try {
      let id = "";
      for (let v = 0; v < 6; v++) id = (await r.call("instance.register", { url: "http://127.0.0.1:7601", slug: "long-lived", tags: [`v${v}`] })).body.instance.id;
      const kept = await historyOf(r.nc, names.eventsStream, names.eventSubject("instance", id));
      assert.equal(kept.length, 3);
      await r.jsm.streams.purge(`KV_${names.buckets.instance}`);
      await rebuildBuckets(r.nc, names, silentLog);
      assert.deepEqual((await r.call("instance.get", { id })).body.instance.tags, ["v5"]);
    } finally {
      await r.stop();
    }
  });

  test("faults - junk heartbeats are counted and skipped, join no node, and store nothing", async () => {
    const r = await startTestRegistry({ heartbeatSubjects: 100, offlineAfterMs: 600_000 });
    try {
      await until(async () => (await r.call("node.get", { id: "self-node" })).body.node !== undefined, "the registry's own node to join");
      const stored = (await r.jsm.streams.info(`KV_${names.buckets.node}`)).state.last_seq;
      const events = await r.eventCount();
      for (let n = 0; n < 500; n++) r.nc.publish(names.heartbeatSubject(`junk-${n}`), "{}");
      // A readable heartbeat past 64 KiB (its padding a field the registry drops) is skipped unread too.
      r.nc.publish(names.heartbeatSubject("huge-node"), JSON.stringify({ ...heartbeat("huge-node"), padding: "x".repeat(70 * 1024) }));
      await r.nc.flush();
      await until(async () => (await r.call("health.status")).body.unreadable.heartbeats >= 501, "junk heartbeats to be counted");
      assert.equal((await r.call("node.list", { limit: 1000 })).body.nodes.length, 1, "no junk node joined");
      assert.equal(await r.eventCount(), events);
      assert.equal((await r.jsm.streams.info(`KV_${names.buckets.node}`)).state.last_seq, stored, "nothing stored for them");
      await assert.rejects(r.jsm.streams.info(names.heartbeatsStream), /stream not found/, "no stream keeps heartbeats");
    } finally {
      await r.stop();
    }
  });

  test("faults - reading a stream to its end fails, saying what it waited for, when messages stop coming", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    try {
      await c.jsm.streams.add({ name: "READ_TEST", subjects: ["read.>"] });
      const js = jetstream(c.nc);
      for (let n = 0; n < 2000; n++) void js.publish(`read.${n}`, "x".repeat(1000));
      await until(async () => (await c.jsm.streams.info("READ_TEST")).state.messages === 2000, "the messages to be stored");
      const { readSubjects } = await import("../src/nats/readSubjects.ts");
      await assert.rejects(
        (async () => {
          for await (const _m of readSubjects(js, "READ_TEST", "read.>", "all", { idleMs: 1000 })) await server.kill();
        })(),
        /no message from READ_TEST \(read\.>\) for 1000 ms while reading it to its end at sequence 2000 \(last received \d+\); check nats-server and retry/,
      );
    } finally {
      await c.nc.close();
      await server.stop();
    }
  });
});
