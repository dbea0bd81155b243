import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../src/contract/schemas.ts";
import { agent, gpu, heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { clientFor, historyOf, spawnRegistry, startRegistryOn, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { connectionsNamed, startNatsServer } from "./harness/natsServer.ts";
import { startHttpTarget } from "./harness/targets.ts";
import { until } from "./harness/until.ts";
import { namesFor } from "../src/contract/names.ts";

const names = namesFor("registry");

const FAST = { heartbeatIntervalMs: 200, offlineAfterMs: 1000 };
const nodeEvents = async (r: { nc: TestRegistry["nc"] }, id: string) => historyOf(r.nc, "REGISTRY_EVENTS", `registry.events.node.${id}`);
/** Heartbeats the registry has folded, read from /metrics. */
const foldedHeartbeats = async (r: TestRegistry) => Number(/registry_heartbeats_total\{outcome="folded"\} (\d+)/.exec(await (await fetch(`${r.registry.httpUrl}/metrics`)).text())?.[1] ?? 0);
const statusOf = async (r: TestRegistry, id: string) => (await r.call("node.get", { id })).body.node?.status;

describe("nodes: agent, heartbeats and liveness", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry(FAST)));
  after(async () => r.stop());

  test("node - the registry's own agent joins on its first heartbeat with real usage figures", async () => {
    const self = await until(async () => (await r.call("node.self")).body.node as Node | undefined, "node.self to answer");
    assert.equal(self.id, "self-node");
    assert.equal(self.status, "Online");
    assert.ok(self.usage && self.usage.memory.total > 0 && self.usage.cpu.total >= 1 && self.usage.disk.total > 0);
    const [joined] = await nodeEvents(r, "self-node");
    assert.equal(joined?.type, "NodeJoined");
    assert.match(joined?.data.reason, /first heartbeat/);
  });

  test("node - steady heartbeats keep a node Online with nothing stored; usage that moves by 10 points is stored at once", async () => {
    const lastStored = async () => (await r.jsm.streams.getMessage(`KV_${names.buckets.node}`, { last_by_subj: `$KV.${names.buckets.node}.steady-1` }))!.seq;
    publishHeartbeat(r.nc, heartbeat("steady-1", { cpuPercent: 20 }));
    await until(async () => (await statusOf(r, "steady-1")) === "Online", "steady-1 to join");
    await until(async () => (await r.call("node.get", { id: "steady-1" })).body.node.usage?.cpu.percent === 20, "its first heartbeat's usage to be stored");
    const stored = await lastStored();
    const from = Date.now();
    let beats = 0;
    const beating = setInterval(() => publishHeartbeat(r.nc, heartbeat("steady-1", { cpuPercent: 20 + (beats++ % 2) * 5 })), FAST.heartbeatIntervalMs); // moves by less than 10 points
    await until(() => Date.now() > from + 3 * FAST.offlineAfterMs, "three offline windows of steady heartbeats").finally(() => clearInterval(beating));
    assert.equal(await statusOf(r, "steady-1"), "Online", "kept Online by heartbeats folded in memory");
    assert.equal(await lastStored(), stored, "nothing stored while usage stays within 10 points");
    publishHeartbeat(r.nc, heartbeat("steady-1", { cpuPercent: 60 }));
    await until(async () => (await r.call("node.get", { id: "steady-1" })).body.node.usage?.cpu.percent === 60, "the moved usage to be stored");
    assert.deepEqual((await nodeEvents(r, "steady-1")).map((e) => e.type), ["NodeJoined"]);
  });

  test("node - goes Offline when silent, comes back, is removed and re-joins; each transition one event with its reason", async () => {
    let worker = agent(r.nc, "worker-1", r.server.dir);
    await until(async () => (await statusOf(r, "worker-1")) === "Online", "worker-1 to join");
    worker.stop();
    await until(async () => (await statusOf(r, "worker-1")) === "Offline", "worker-1 to go Offline");
    worker = agent(r.nc, "worker-1", r.server.dir);
    await until(async () => (await statusOf(r, "worker-1")) === "Online", "worker-1 to come back");
    assert.deepEqual((await r.call("node.remove", { id: "worker-1" })).body, {});
    await until(async () => (await statusOf(r, "worker-1")) === "Online", "worker-1, still alive, to join again");
    worker.stop();
    await until(async () => (await statusOf(r, "worker-1")) === "Offline", "worker-1 to go Offline again");
    const history = await nodeEvents(r, "worker-1");
    assert.deepEqual(
      history.map((e) => e.type),
      ["NodeJoined", "NodeWentOffline", "NodeCameBack", "NodeRemoved", "NodeJoined", "NodeWentOffline"],
    );
    assert.match(history[1]?.data.reason, /^no heartbeat for \d+\.\ds \(last at .*; offline after 1s\)$/);
    assert.match(history[2]?.data.reason, /^heartbeat received at .* after none since /);
    assert.equal(history[3]?.data.reason, "removed by an operator");
  });

  test("node - a URL held by a node gone Offline passes to the new node heartbeating with it (a machine set up again, a checkout cloned again); the old one is removed, saying why", async () => {
    const url = "http://127.0.0.1:11601";
    publishHeartbeat(r.nc, { ...heartbeat("old-box"), url });
    await until(async () => (await statusOf(r, "old-box")) === "Online", "old-box to join");
    await until(async () => (await statusOf(r, "old-box")) === "Offline", "old-box, silent, to go Offline");
    publishHeartbeat(r.nc, { ...heartbeat("new-box"), url });
    await until(async () => (await statusOf(r, "new-box")) === "Online", "new-box to join with old-box's URL");
    assert.equal((await r.call("node.get", { url })).body.node.id, "new-box");
    assert.equal((await r.call("node.get", { id: "old-box" })).code, 404);
    const old = await nodeEvents(r, "old-box");
    assert.deepEqual(old.map((e) => e.type), ["NodeJoined", "NodeWentOffline", "NodeRemoved"]);
    assert.equal(old[2]?.data.reason, `its URL ${url} passed to node new-box, which heartbeats with it, after this node went offline`);
    assert.deepEqual((await nodeEvents(r, "new-box")).map((e) => e.type), ["NodeJoined"]);
  });

  test("node - `registry agent` runs the agent alone: its machine joins, and goes Offline when it stops", async () => {
    const solo = await spawnRegistry(r.server.url, { OB_NODE_ID: "solo", OB_SELF_URL: "http://127.0.0.1:11401", REGISTRY_DATA_DIR: r.server.dir, REGISTRY_HEARTBEAT_INTERVAL_MS: "200" }, "agent");
    try {
      const node = await until(async () => (await r.call("node.get", { id: "solo" })).body.node as Node | undefined, "the agent's node to join");
      assert.equal(node.url, "http://127.0.0.1:11401");
      assert.ok(node.usage && node.usage.memory.total > 0);
      assert.ok(!solo.output().includes('"registry started"'), "no registry service in agent mode");
    } finally {
      await solo.stop();
    }
    await until(async () => (await statusOf(r, "solo")) === "Offline", "the stopped agent's node to go Offline");
  });

  test("node - two agents with the same configured id make one node", async () => {
    // The stored lastHeartbeat moves only every REGISTRY_NODE_RECORD_MS, so count the heartbeats on the wire and the registry's folds.
    const heard = r.nc.subscribe(names.heartbeatSubject("twin"));
    let beats = 0;
    void (async () => { for await (const _ of heard) beats++; })();
    const twins = [agent(r.nc, "twin", r.server.dir), agent(r.nc, "twin", r.server.dir)];
    try {
      await until(async () => (await statusOf(r, "twin")) === "Online", "twin to join");
      await until(async () => beats >= 8, "both agents to heartbeat a few times");
      const folded = await foldedHeartbeats(r);
      await until(async () => (await foldedHeartbeats(r)) >= folded + 4, "the registry to fold more of them");
      assert.equal(await statusOf(r, "twin"), "Online");
    } finally {
      heard.unsubscribe();
      for (const t of twins) t.stop();
    }
    assert.equal((await r.call("node.list", { ids: ["twin"] })).body.nodes.length, 1);
    assert.deepEqual((await nodeEvents(r, "twin")).map((e) => e.type), ["NodeJoined"]);
  });

  test("node - an agent follows its own node's instances only: no change of an instance on another node reaches it", async () => {
    const target = await startHttpTarget();
    const ownUrl = "http://127.0.0.1:11403";
    let solo: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
    try {
      solo = await spawnRegistry(r.server.url, { OB_NODE_ID: "follower", OB_SELF_URL: ownUrl, REGISTRY_DATA_DIR: r.server.dir, REGISTRY_HEARTBEAT_INTERVAL_MS: "200" }, "agent");
      await until(async () => (await statusOf(r, "follower")) === "Online", "the agent's node to join");
      const [conn] = await until(async () => {
        const found = await connectionsNamed(r.server, "registry agent");
        return found.length === 1 ? found : undefined;
      }, "the agent's connection in nats-server's monitoring");
      const sentTo = async () => (await connectionsNamed(r.server, "registry agent")).find((c) => c.cid === conn!.cid)!.out_msgs;
      const before = await sentTo();
      const others = 100;
      for (let n = 0; n < others; n++) await r.call("instance.register", { url: `http://127.0.0.1:${26000 + n}`, slug: "elsewhere-svc", nodeUrl: "http://127.0.0.1:11498", tags: [`n${n}`] });
      // Its own node's instance reaches it: it checks it.
      const check = { type: "http", intervalMs: 100, failuresBeforeChange: 1 };
      const { instance } = (await r.call("instance.register", { url: target.url, slug: "here-svc", nodeUrl: ownUrl, check })).body;
      await until(async () => (await r.call("instance.get", { id: instance.id })).body.instance?.status === "Healthy", "the agent to check its own node's instance");
      const sent = (await sentTo()) - before;
      assert.ok(sent < 20, `nats-server sent the agent ${sent} messages while ${others} instances on another node were registered`);
    } finally {
      await solo?.stop();
      await target.stop();
    }
  });

  test("node - a malformed heartbeat, or one on another node's subject, writes nothing", async () => {
    r.nc.publish("registry.heartbeat.bad-1", "{not json");
    r.nc.publish("registry.heartbeat.bad-2", JSON.stringify(heartbeat("someone-else")));
    r.nc.publish("registry.heartbeat.bad-3", JSON.stringify({ ...heartbeat("bad-3"), usage: { cpu: "high" } }));
    publishHeartbeat(r.nc, heartbeat("good-1"));
    await until(async () => (await statusOf(r, "good-1")) === "Online", "the good heartbeat after them to be folded in");
    for (const id of ["bad-1", "bad-2", "bad-3", "someone-else"]) {
      assert.equal((await r.call("node.get", { id })).code, 404, id);
      assert.deepEqual(await nodeEvents(r, id), [], id);
    }
  });
});

describe("nodes: registry processes share the heartbeats", () => {
  test("node - two registry processes each fold their own share of the heartbeats; when one is killed the other folds them all and no node that beats goes Offline", async () => {
    const server = await startNatsServer();
    const keeper = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "keeper-a" });
    const c = await clientFor(server.url);
    let victim: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
    const nodes = Array.from({ length: 20 }, (_, n) => `shared-${n}`);
    let sent = 0;
    const beating = setInterval(() => nodes.forEach((id) => (publishHeartbeat(c.nc, heartbeat(id)), sent++)), 200);
    const folded = async () => Number(/registry_heartbeats_total\{outcome="folded"\} (\d+)/.exec(await (await fetch(`${keeper.registry.httpUrl}/metrics`)).text())?.[1] ?? 0);
    /** The heartbeats of the test's nodes sent, and those the keeper folded, over two seconds. */
    const share = async () => {
      const [sentFrom, foldedFrom, from] = [sent, await folded(), Date.now()];
      await until(() => Date.now() > from + 2000, "two seconds of heartbeats");
      return { sent: sent - sentFrom, folded: (await folded()) - foldedFrom };
    };
    try {
      victim = await spawnRegistry(server.url, { OB_NODE_ID: "keeper-b", OB_SELF_URL: "http://127.0.0.1:11702", REGISTRY_DATA_DIR: server.dir, REGISTRY_HEARTBEAT_INTERVAL_MS: "200", REGISTRY_OFFLINE_AFTER_MS: "1000" });
      await until(() => keeper.registry.members().length === 2, "the keeper to see the other process");
      for (const id of nodes) await until(async () => (await c.call("node.get", { id })).body.node?.status === "Online", `${id} to join`);
      const shared = await share();
      assert.ok(shared.folded < 0.9 * shared.sent, `the keeper folded ${shared.folded} of ${shared.sent}: its share, not all`);

      victim.child.kill("SIGKILL");
      await victim.stop();
      await until(() => keeper.registry.members().length === 1, "the keeper to see the other process gone");
      const alone = await share();
      assert.ok(alone.folded >= 0.9 * alone.sent, `the keeper folded ${alone.folded} of ${alone.sent}: all of them`);
      for (const id of nodes) {
        const events = await nodeEvents(c, id);
        assert.deepEqual(events.map((e) => e.type), ["NodeJoined"], `${id} kept beating, so it never went Offline`);
      }
      clearInterval(beating);
      for (const id of nodes) await until(async () => (await c.call("node.get", { id })).body.node?.status === "Offline", `${id}, silent, to be turned Offline by the keeper`);
    } finally {
      clearInterval(beating);
      await c.nc.close();
      await victim?.stop();
      await keeper.registry.stop();
      await keeper.nc.close();
      await server.stop();
    }
  });
});

describe("nodes and leases: the coarse record's period is a setting", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry({ ...FAST, healthTickMs: 100, nodeRecordEveryMs: 1000, leaseRecordEveryMs: 1000 })));
  after(async () => r.stop());

  /** The distinct stored versions of a key seen while `act` runs, sampled every 50 ms: about how many times it was written. */
  async function writesWhile(bucket: string, key: string, act: () => Promise<void>): Promise<number> {
    const seen = new Set<number>();
    const sample = async () => seen.add((await r.jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` }))!.seq);
    await sample();
    let done = false;
    const sampling = (async () => {
      while (!done) await Promise.all([sample(), new Promise((ok) => setTimeout(ok, 50))]);
    })();
    await act().finally(() => (done = true));
    await sampling;
    await sample();
    return seen.size - 1;
  }

  test("node and lease - a steady node, and a renewing instance, are recorded every REGISTRY_NODE_RECORD_MS and REGISTRY_LEASE_RECORD_MS, not on each heartbeat or renewal", async () => {
    publishHeartbeat(r.nc, heartbeat("recorded-1"));
    await until(async () => (await statusOf(r, "recorded-1")) === "Online", "recorded-1 to join");
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:7901", slug: "recorded-svc", ttlSeconds: 2, graceSeconds: 60 })).body;
    const renewal = names.leaseSubject(`recorded-svc.${instance.id}`);
    const steadily = (beat: () => void) => async () => {
      const from = Date.now();
      const timer = setInterval(beat, 100);
      await until(() => Date.now() > from + 3500, "3.5 s of heartbeats or renewals every 100 ms").finally(() => clearInterval(timer));
    };
    const [nodeWrites, leaseWrites] = await Promise.all([
      writesWhile(names.buckets.node, "recorded-1", steadily(() => publishHeartbeat(r.nc, heartbeat("recorded-1")))),
      writesWhile(names.buckets.instance, `recorded-svc.${instance.id}`, steadily(() => r.nc.publish(renewal))),
    ]);
    // 35 heartbeats and 35 renewals: about one record a second each (the lease's first renewal also writes its recovery).
    assert.ok(nodeWrites >= 2 && nodeWrites <= 6, `the node's entry was written ${nodeWrites} times`);
    assert.ok(leaseWrites >= 2 && leaseWrites <= 7, `the instance's entry was written ${leaseWrites} times`);
    assert.equal(await statusOf(r, "recorded-1"), "Online");
  });
});

describe("nodes: a node's URL is its own", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry({ heartbeatIntervalMs: 1000, offlineAfterMs: 120_000 })));
  after(async () => r.stop());

  /** Heartbeats this process refused because another node holds their URL, read from /metrics. */
  const urlsRefused = async () => Number(/registry_heartbeats_total\{outcome="urlTaken"\} (\d+)/.exec(await (await fetch(`${r.registry.httpUrl}/metrics`)).text())?.[1] ?? 0);
  const nodeOf = async (id: string) => (await r.call("node.get", { id })).body?.node as Node | undefined;

  test("node - a heartbeat claiming a URL another node holds is refused: a new node does not join, a known one keeps its URL; removing the holder frees it", async () => {
    const [urlA, urlB] = ["http://127.0.0.1:11501", "http://127.0.0.1:11502"];
    publishHeartbeat(r.nc, { ...heartbeat("url-a"), url: urlA });
    publishHeartbeat(r.nc, { ...heartbeat("url-b"), url: urlB });
    await until(async () => (await nodeOf("url-a"))?.status === "Online" && (await nodeOf("url-b"))?.status === "Online", "url-a and url-b to join");
    const { id: onB } = (await r.call("instance.register", { url: "http://127.0.0.1:25501", slug: "on-b", nodeUrl: urlB })).body.instance;

    // url-a takes over url-b's URL: refused, url-a keeps its own, and the URL still names url-b.
    publishHeartbeat(r.nc, { ...heartbeat("url-a"), url: urlB });
    await until(async () => (await urlsRefused()) === 1, "the takeover to be refused");
    assert.equal((await nodeOf("url-a"))?.url, urlA);
    assert.equal((await r.call("node.get", { url: urlB })).body.node.id, "url-b");
    assert.deepEqual((await nodeEvents(r, "url-a")).map((e) => e.type), ["NodeJoined"]);
    assert.equal((await nodeOf("url-a"))?.status, "Online", "its telemetry is still taken");

    // A new node claiming a held URL does not join.
    publishHeartbeat(r.nc, { ...heartbeat("url-c"), url: urlB });
    await until(async () => (await urlsRefused()) === 2, "the new node's claim to be refused");
    assert.equal((await r.call("node.get", { id: "url-c" })).code, 404);
    assert.deepEqual(await nodeEvents(r, "url-c"), []);

    // A node moving to a free URL frees its old one.
    publishHeartbeat(r.nc, { ...heartbeat("url-a"), url: "http://127.0.0.1:11503" });
    await until(async () => (await nodeOf("url-a"))?.url === "http://127.0.0.1:11503", "url-a to move to a free URL");
    publishHeartbeat(r.nc, { ...heartbeat("url-d"), url: urlA });
    await until(async () => (await nodeOf("url-d"))?.url === urlA, "url-d to join with url-a's old URL");

    // url-a going silent takes none of url-b's instances with it.
    assert.equal((await r.call("node.remove", { id: "url-a" })).code, undefined);
    assert.equal((await r.call("instance.get", { id: onB })).body.instance.statusCause, "registered");

    // Removing url-b frees its URL for the next node that claims it.
    assert.equal((await r.call("node.remove", { id: "url-b" })).code, undefined);
    publishHeartbeat(r.nc, { ...heartbeat("url-c"), url: urlB });
    await until(async () => (await nodeOf("url-c"))?.url === urlB, "url-c to join with the freed URL");
  });
});

describe("nodes: a registry process whose node cannot join", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry({ heartbeatIntervalMs: 1000, offlineAfterMs: 120_000 })));
  after(async () => r.stop());

  test("node - node/self says which node holds its URL and what to do, not that its heartbeat is on the way", async () => {
    await until(async () => (await r.call("node.self", {})).body.node !== undefined, "the registry's own node to join");
    const holder = (await r.call("node.self", {})).body.node as Node;
    const twin = await startRegistryOn(r.server.url, r.server.dir, { nodeId: "twin", selfUrl: holder.url });
    try {
      const self = await fetch(`${twin.registry.httpUrl}/registry-svc/node/self`);
      assert.equal(self.status, 409);
      assert.equal(
        ((await self.json()) as { error: { message: string } }).error.message,
        `this registry's node "twin" cannot join: node "${holder.id}" holds its URL ${holder.url}; give this process its own OB_SELF_URL, or remove ${holder.id} (registry node rm ${holder.id})`,
      );
      assert.equal((await r.call("node.get", { id: "twin" })).code, 404, "nothing was written");
    } finally {
      await twin.registry.stop();
      await twin.nc.close();
    }
  });
});

describe("nodes: placement", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry({ heartbeatIntervalMs: 1000, offlineAfterMs: 120_000 });
    publishHeartbeat(r.nc, heartbeat("small", { freeMemoryGiB: 4, cpuPercent: 20 }));
    publishHeartbeat(r.nc, heartbeat("big", { freeMemoryGiB: 30, cpuPercent: 10 }));
    publishHeartbeat(r.nc, heartbeat("busy", { freeMemoryGiB: 20, cpuPercent: 95 }));
    publishHeartbeat(r.nc, heartbeat("eu", { freeMemoryGiB: 8, region: "eu-west-1" }));
    publishHeartbeat(r.nc, heartbeat("gpu", { freeMemoryGiB: 16, gpus: [gpu(0, 1024, 10), gpu(1, 15000, 95)] }));
    publishHeartbeat(r.nc, heartbeat("slow-clock", { freeMemoryGiB: 2, cpuPercent: 99, at: new Date(Date.now() - 10 * 60_000) }));
    await until(async () => (await r.call("node.list")).body.nodes.length === 7, "six nodes and self-node to join");
  });
  after(async () => r.stop());

  const select = async (req: object) => {
    const reply = await r.call("node.select", req);
    assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    return reply.body.nodes.map((n: Node) => n.id).filter((id: string) => id !== "self-node");
  };

  test("select - best fit first: the node left with the least spare memory", async () => {
    assert.deepEqual(await select({ minMemoryFreeBytes: 6 * 1024 ** 3 }), ["eu", "gpu", "busy", "big"]);
  });

  test("select - leastLoaded puts the node with the most free memory first", async () => {
    assert.deepEqual(await select({ minMemoryFreeBytes: 6 * 1024 ** 3, strategy: "leastLoaded" }), ["big", "busy", "gpu", "eu"]);
  });

  test("select - CPU, region and GPU requirements", async () => {
    assert.deepEqual(await select({ minCpuFreePercent: 50 }), ["small", "eu", "gpu", "big"]);
    assert.deepEqual(await select({ region: "eu-west-1" }), ["eu"]);
    assert.deepEqual(await select({ gpuCount: 1, maxGpuUtilization: 50 }), ["gpu"]);
    assert.deepEqual(await select({ gpuCount: 1, minGpuFreeMemoryMiB: 2000 }), ["gpu"]);
    assert.deepEqual(await select({ gpuCount: 2, maxGpuUtilization: 50 }), []);
    assert.deepEqual(await select({ minDiskFreeBytes: 200 * 1024 ** 3 }), []);
  });

  test("select - a node whose clock is ten minutes behind is Online: the registry dates its heartbeats on arrival", async () => {
    const node = (await r.call("node.get", { id: "slow-clock" })).body.node;
    assert.equal(node.status, "Online");
    assert.ok(Date.now() - Date.parse(node.lastHeartbeat) < 60_000, node.lastHeartbeat);
    assert.ok((await select({})).includes("slow-clock"));
  });

  test("select - by definition: its requirements place it, the request's limits override them", async () => {
    const saved = await r.call("definition.save", {
      definition: { id: "trainer", image: { name: "trainer:1" }, requirements: { cpuCores: 6, memoryBytes: 10 * 1024 ** 3, gpuCount: 1, gpuMemoryMiB: 8000, softRttMs: 5, hardRttMs: 50 } },
    });
    assert.equal(saved.code, undefined, JSON.stringify(saved.body));
    // 8 cores each: 6 free needs at most 25% busy; 10 GiB free; one GPU with 8000 MiB free: only "gpu" has that, but it is 50% busy.
    assert.deepEqual(await select({ definitionId: "trainer" }), []);
    assert.deepEqual(await select({ definitionId: "trainer", minCpuFreeCores: 4 }), ["gpu"], "an explicit limit overrides the definition's");
    await r.call("definition.save", { definition: { id: "web", image: { name: "web:1" }, requirements: { cpuCores: 6, memoryBytes: 10 * 1024 ** 3 } } });
    assert.deepEqual(await select({ definitionId: "web" }), ["big"]);
    assert.deepEqual(await select({ definitionId: "web", strategy: "leastLoaded", minCpuFreeCores: 0 }), ["big", "busy", "gpu"]);
    const missing = await r.call("node.select", { definitionId: "nothing" });
    assert.deepEqual([missing.code, missing.body.error.message], [404, 'definition "nothing" not found; list them with registry.definition.list']);
  });

  test("select - explain: each refused node with every requirement it fails, what it needs and what the node has", async () => {
    const reply = await r.call("node.select", { definitionId: "trainer", explain: true });
    assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.nodes, []);
    const failed = Object.fromEntries(reply.body.refused.map((x: { node: string; failed: { requirement: string }[] }) => [x.node, x.failed]));
    assert.deepEqual(failed.gpu, [{ requirement: "minCpuFreeCores", needs: 6, has: 4 }]);
    assert.deepEqual(failed.small, [
      { requirement: "minMemoryFreeBytes", needs: 10 * 1024 ** 3, has: 4 * 1024 ** 3 },
      { requirement: "gpuCount", needs: 1, has: 0 },
    ], "6.4 cores free: its CPU is enough");
    assert.deepEqual(failed.busy.map((f: { requirement: string }) => f.requirement), ["minCpuFreeCores", "gpuCount"]);
    assert.equal((await r.call("node.select", { definitionId: "trainer" })).body.refused, undefined, "only when asked");
  });

  test("select - bad requirements on a definition are refused with 400 naming the field; nothing written", async () => {
    const before = await r.eventCount();
    const cases: [object, string][] = [
      [{ cpuCores: -1 }, "/definition/requirements/cpuCores"],
      [{ gpuCount: 1.5 }, "/definition/requirements/gpuCount"],
      [{ memoryBytes: "1G" }, "/definition/requirements/memoryBytes"],
      [{ softRttMs: 80, hardRttMs: 50 }, "/definition/requirements/softRttMs"],
      [{ cpus: 2 }, "/definition/requirements/cpus"],
    ];
    for (const [requirements, path] of cases) {
      const reply = await r.call("definition.save", { definition: { id: "bad-req", image: { name: "x" }, requirements } });
      assert.equal(reply.code, 400, JSON.stringify(requirements));
      assert.deepEqual(reply.body.error.details.map((d: { path: string }) => d.path), [path], JSON.stringify(reply.body.error));
    }
    assert.equal(await r.eventCount(), before);
  });

  test("select - bad requirements are refused with 400", async () => {
    const reply = await r.call("node.select", { minCpuFreePercent: 150, strategy: "random" });
    assert.equal(reply.code, 400);
    assert.deepEqual(reply.body.error.details.map((d: { path: string }) => d.path).sort(), ["/minCpuFreePercent", "/strategy"]);
  });
});

describe("nodes: liveness with two registry replicas", () => {
  test("replicas - each transition is written once, and a surviving replica still detects it", async () => {
    const server = await startNatsServer();
    const a = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "replica-a" });
    const b = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "replica-b" });
    const c = await clientFor(server.url);
    const status = async () => (await c.call("node.get", { id: "worker-r" })).body.node?.status;
    try {
      let worker = agent(c.nc, "worker-r", server.dir);
      await until(async () => (await status()) === "Online", "worker-r to join");
      worker.stop();
      await until(async () => (await status()) === "Offline", "worker-r to go Offline");
      await a.registry.stop();
      await a.nc.close();
      worker = agent(c.nc, "worker-r", server.dir);
      await until(async () => (await status()) === "Online", "worker-r to come back, seen by the surviving replica");
      worker.stop();
      await until(async () => (await status()) === "Offline", "worker-r to go Offline, seen by the surviving replica");
      const history = await historyOf(c.nc, "REGISTRY_EVENTS", "registry.events.node.worker-r");
      assert.deepEqual(history.map((e) => e.type), ["NodeJoined", "NodeWentOffline", "NodeCameBack", "NodeWentOffline"]);
    } finally {
      await c.nc.close();
      await b.registry.stop();
      await b.nc.close();
      await server.stop();
    }
  });
});
