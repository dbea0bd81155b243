import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { RegistryClient, RegistryError, type Discovery } from "../src/client/index.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

describe("client library", () => {
  let r: TestRegistry;
  let client: RegistryClient;
  before(async () => {
    r = await startTestRegistry({ healthTickMs: 100 });
    client = new RegistryClient(r.nc);
  });
  after(async () => r.stop());

  test("client - typed methods for definitions, instances and nodes", async () => {
    const definition = { id: "client-def", image: { name: "nginx:alpine", internalPorts: [80] } };
    assert.deepEqual(await client.saveDefinition(definition), definition);
    assert.deepEqual(await client.getDefinition("client-def"), definition);
    assert.ok((await client.listDefinitions()).some((d) => d.id === "client-def"));
    await client.removeDefinition("client-def");

    const i = await client.registerInstance({ url: "http://127.0.0.1:8501", slug: "client-svc", tags: ["a"] });
    assert.deepEqual(await client.getInstance(i.id), i);
    assert.deepEqual((await client.listInstances({ slug: "client-svc" })).map((x) => x.id), [i.id]);
    assert.equal((await client.reportStatus(i.id, "Starting")).status, "Starting");
    await client.removeInstance(i.id);
    assert.deepEqual(await client.listInstances({ slug: "client-svc" }), []);

    const self = await until(() => client.selfNode().catch(() => undefined), "the registry's node to join");
    assert.equal(self.id, "self-node");
    assert.deepEqual((await client.listNodes(["self-node"])).map((n) => n.id), ["self-node"]);
    assert.equal((await client.getNode({ url: self.url })).id, "self-node");
    assert.ok(Array.isArray(await client.selectNodes({ minCpuFreePercent: 0 })));
    assert.equal((await client.healthStatus()).protection.enabled, true);
  });

  test("client - errors are RegistryErrors with the registry's code, message and details", async () => {
    await assert.rejects(client.getInstance("nope"), (err: unknown) => err instanceof RegistryError && err.code === 404 && /not found/.test(err.message));
    await assert.rejects(
      client.registerInstance({ url: "http://127.0.0.1:1", port: 99999 }),
      (err: unknown) => err instanceof RegistryError && err.code === 400 && err.details?.[0]?.path === "/port",
    );
  });

  test("client - no registry on the prefix is a 503 that says what to check", async () => {
    const lonely = new RegistryClient(r.nc, { prefix: "nobody-here", timeoutMs: 1000 });
    await assert.rejects(lonely.listInstances(), (err: unknown) => err instanceof RegistryError && err.code === 503 && /no registry answers on nobody-here.instance.list/.test(err.message));
  });

  describe("discover", () => {
    let users: Discovery;
    before(async () => (users = await client.discover("disc-svc")));
    after(() => users.stop());

    test("discover - follows registrations, status changes and removals as they happen, and nothing of other services", async () => {
      const changes: number[] = [];
      const unsubscribe = users.onChange((all) => changes.push(all.length));
      const a = await client.registerInstance({ url: "http://127.0.0.1:8601", slug: "disc-svc", status: "Healthy" });
      const b = await client.registerInstance({ url: "http://127.0.0.1:8602", slug: "disc-svc", status: "Healthy" });
      await client.registerInstance({ url: "http://127.0.0.1:8603", slug: "other-svc", status: "Healthy" });
      await until(() => users.instances().length === 2, "both registrations to arrive");
      await client.reportStatus(b.id, "Unhealthy");
      await until(() => users.healthy().map((i) => i.id).join() === a.id, "the status change to arrive");
      await client.removeInstance(a.id);
      await until(() => users.instances().map((i) => i.id).join() === b.id, "the removal to arrive");
      assert.ok(users.instances().every((i) => i.slug === "disc-svc"));
      assert.ok(changes.length >= 4, `onChange called on each change (${changes.length})`);
      unsubscribe();
      await client.removeInstance(b.id);
      await until(() => users.instances().length === 0, "the last removal");
    });

    test("pick - round robin over healthy instances, skipping unhealthy ones; without healthy ones, over the rest", async () => {
      const ids: string[] = [];
      for (const [port, status] of [[8701, "Healthy"], [8702, "Degraded"], [8703, "Unhealthy"], [8704, "Healthy"]] as const) {
        ids.push((await client.registerInstance({ url: `http://127.0.0.1:${port}`, slug: "disc-svc", status })).id);
      }
      await until(() => users.instances().length === 4, "all four");
      const picks = Array.from({ length: 6 }, () => users.pick()?.id);
      const unhealthy = ids[2];
      assert.ok(!picks.includes(unhealthy), "never the Unhealthy one");
      assert.equal(new Set(picks).size, 3, "every healthy one in turn");
      assert.equal(picks[0], picks[3], "round robin");
      for (const id of [ids[0]!, ids[1]!, ids[3]!]) await client.reportStatus(id, "Stopping");
      await until(() => users.healthy().length === 0, "no healthy instance left");
      assert.equal(users.pick()?.id, unhealthy, "panic mode: the Unhealthy one rather than nothing; never a Stopping one");
      for (const id of ids) await client.removeInstance(id);
      await until(() => users.pick() === undefined, "nothing to pick");
    });
  });

  test("selfRegister - registers with a lease, renews it, comes back after the registry lost it, deregisters on stop", async () => {
    const me = await client.selfRegister({ url: "http://127.0.0.1:8801", slug: "self-svc", ttlSeconds: 0.6 });
    const id = me.instance().id;
    await until(async () => (await client.getInstance(id)).status === "Healthy", "the first renewal to make it Healthy");
    await client.removeInstance(id); // as if the registry had expired it
    await until(() => client.getInstance(id).then(() => true, () => false), "selfRegister to register it again");
    await me.stop();
    await assert.rejects(client.getInstance(id), (err: unknown) => err instanceof RegistryError && err.code === 404);
  });
});

describe("client: round-trip bounds (seed 004's soft and hard RTT)", () => {
  let r: TestRegistry;
  let client: RegistryClient;
  before(async () => {
    r = await startTestRegistry();
    client = new RegistryClient(r.nc);
  });
  after(async () => r.stop());

  test("rtt - the definition's bounds apply: within soft preferred, beyond hard never, between when none is within soft", async () => {
    await client.saveDefinition({ id: "rtt-svc", image: { name: "rtt:1" }, requirements: { softRttMs: 10, hardRttMs: 50 } });
    const [near, mid, far] = await Promise.all(
      [9301, 9302, 9303].map((port) => client.registerInstance({ url: `http://127.0.0.1:${port}`, slug: "rtt-svc", status: "Healthy" })),
    );
    const d = await client.discover("rtt-svc", { probeEveryMs: 60_000 });
    try {
      await until(() => d.instances().length === 3, "the three instances");
      // Nothing listens on these ports: the probes are refused and measure nothing; the caller's own calls count.
      d.recordRtt(near!.id, 4);
      d.recordRtt(mid!.id, 30);
      d.recordRtt(far!.id, 80);
      const picks = new Set(Array.from({ length: 6 }, () => d.pick()?.id));
      assert.deepEqual([...picks], [near!.id], "only the one within the soft bound while there is one");
      d.recordRtt(near!.id, 200); // smoothed: 4 + 0.3 x 196 = 62.8, now beyond the hard bound
      assert.equal(Math.round(d.rttOf(near!.id)!), 63);
      assert.deepEqual(new Set(Array.from({ length: 6 }, () => d.pick()?.id)), new Set([mid!.id]), "within the hard bound when none is within the soft");
      d.recordRtt(mid!.id, 500);
      d.recordRtt(mid!.id, 500);
      assert.equal(d.pick(), undefined, "never one beyond the hard bound");
    } finally {
      d.stop();
    }
  });

  test("rtt - a light probe measures instances that answer; bounds given to discover need no definition; no bounds, no probes", async () => {
    const server = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const live = await client.registerInstance({ url: `http://127.0.0.1:${port}`, slug: "probed-svc", status: "Healthy" });
      const probed = await client.discover("probed-svc", { rtt: { hardMs: 1000 } });
      const plain = await client.discover("probed-svc");
      try {
        const rtt = await until(() => probed.rttOf(live.id), "the probe to measure the instance");
        assert.ok(rtt >= 0 && rtt < 1000, String(rtt));
        assert.equal(probed.pick()?.id, live.id);
        assert.equal(plain.rttOf(live.id), undefined, "a service without bounds is not probed");
      } finally {
        probed.stop();
        plain.stop();
      }
    } finally {
      server.close();
    }
  });
});
