import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import assert from "node:assert/strict";
import type { Instance } from "../src/contract/schemas.ts";
import { agent } from "./harness/nodes.ts";
import { clientFor, historyOf, startRegistryOn, startTestRegistry, type Client, type TestRegistry } from "./harness/registry.ts";
import { startNatsServer } from "./harness/natsServer.ts";
import { startHttpTarget, startTcpTarget } from "./harness/targets.ts";
import { until } from "./harness/until.ts";

const FAST = { healthTickMs: 100, heartbeatIntervalMs: 200, offlineAfterMs: 1000 };
// slowMs leaves room for a loaded CI machine; the target's slow mode answers after 1 s.
const check = (extra: object = {}) => ({ type: "http", path: "/health", intervalMs: 100, timeoutMs: 3000, slowMs: 500, failuresBeforeChange: 1, ...extra });

const instanceEvents = (c: Client, id: string) => historyOf(c.nc, "REGISTRY_EVENTS", `registry.events.instance.${id}`);
const statusChanges = async (c: Client, id: string) =>
  (await instanceEvents(c, id)).filter((e) => e.type === "InstanceStatusChanged").map((e) => `${e.data.to}:${e.data.cause}`);
const instance = async (c: Client, id: string) => (await c.call("instance.get", { id })).body.instance as Instance | undefined;
const statusIs = (c: Client, id: string, status: string) => async () => (await instance(c, id))?.status === status;

describe("health: active checks", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry(FAST)));
  after(async () => r.stop());

  test("health - http check: healthy, slow (Degraded), failing (Unhealthy), stopped (Unreachable), back; one event per transition", async () => {
    const target = await startHttpTarget();
    try {
      const { instance: i } = (await r.call("instance.register", { url: target.url, slug: "checked-svc", check: check() })).body;
      await until(statusIs(r, i.id, "Healthy"), "the first passing check");
      target.mode = "slow";
      await until(statusIs(r, i.id, "Degraded"), "a slow answer to make it Degraded");
      target.mode = "fail";
      await until(statusIs(r, i.id, "Unhealthy"), "a 500 to make it Unhealthy");
      await target.stop();
      await until(statusIs(r, i.id, "Unreachable"), "a closed port to make it Unreachable");
      target.mode = "ok";
      await target.start();
      await until(statusIs(r, i.id, "Healthy"), "the restarted server to make it Healthy again");
      const settled = target.requests;
      await until(() => target.requests >= settled + 3, "three more checks of an unchanged status");
      assert.deepEqual(await statusChanges(r, i.id), [
        "Healthy:check-passed",
        "Degraded:check-slow",
        "Unhealthy:check-failed",
        "Unreachable:check-unreachable",
        "Healthy:check-passed",
      ]);
      const unreachable = (await instanceEvents(r, i.id)).find((e) => e.data.to === "Unreachable");
      assert.match(unreachable?.data.reason, /^GET http:\/\/127\.0\.0\.1:\d+\/health: .*\(checked by registry /);
      assert.equal((await instance(r, i.id))?.statusCause, "check-passed");
    } finally {
      await target.stop();
    }
  });

  test("health - tcp check: a listening port is Healthy, a closed one Unreachable", async () => {
    const target = await startTcpTarget();
    const { instance: i } = (await r.call("instance.register", { ip: "127.0.0.1", port: target.port, check: { type: "tcp", intervalMs: 100, failuresBeforeChange: 1 } })).body;
    await until(statusIs(r, i.id, "Healthy"), "the TCP connect to pass");
    await target.stop();
    await until(statusIs(r, i.id, "Unreachable"), "the closed port to fail");
    assert.deepEqual(await statusChanges(r, i.id), ["Healthy:check-passed", "Unreachable:check-unreachable"]);
  });

  test("health - one failed probe among passing ones does not flap the instance (failuresBeforeChange 2)", async () => {
    const target = await startHttpTarget();
    try {
      const { instance: i } = (await r.call("instance.register", { url: target.url, check: check({ failuresBeforeChange: 2 }) })).body;
      await until(statusIs(r, i.id, "Healthy"), "the first passing check");
      target.mode = "fail-once";
      await until(() => target.mode === "ok", "the one failing answer");
      const after = target.requests;
      await until(() => target.requests >= after + 3, "three more checks");
      assert.deepEqual(await statusChanges(r, i.id), ["Healthy:check-passed"]);
    } finally {
      await target.stop();
    }
  });

  test("health - an instance naming the registry's node is checked by that node's agent", async () => {
    const target = await startHttpTarget();
    try {
      const { instance: i } = (await r.call("instance.register", { url: target.url, nodeUrl: "http://127.0.0.1:11337", check: check() })).body;
      await until(statusIs(r, i.id, "Healthy"), "the node agent's check to pass");
      const [changed] = (await instanceEvents(r, i.id)).filter((e) => e.type === "InstanceStatusChanged");
      assert.match(changed?.data.reason, /\(checked by node self-node\)$/);
    } finally {
      await target.stop();
    }
  });

  test("health - Starting is kept while checks fail, Healthy when one passes; Stopping is kept whatever checks say", async () => {
    const target = await startHttpTarget();
    try {
      target.mode = "fail";
      // Registered Starting, as a deploying instance does: reporting it after the registration
      // would race the first (failing) check, which may make it Unhealthy first.
      const { instance: i } = (await r.call("instance.register", { url: target.url, status: "Starting", details: "deploying v2", check: check() })).body;
      assert.equal(i.status, "Starting");
      const failing = target.requests;
      await until(() => target.requests >= failing + 3, "three failing checks");
      assert.equal((await instance(r, i.id))?.status, "Starting");
      target.mode = "ok";
      await until(statusIs(r, i.id, "Healthy"), "a passing check to end Starting");
      await r.call("instance.status", { id: i.id, status: "Stopping", by: "operator" });
      const passing = target.requests;
      await until(() => target.requests >= passing + 3, "three passing checks");
      assert.equal((await instance(r, i.id))?.status, "Stopping");
      assert.deepEqual(await statusChanges(r, i.id), ["Healthy:check-passed", "Stopping:operator"]);
    } finally {
      await target.stop();
    }
  });

  test("health - an instance reporting its own status: the cause is reported, one event", async () => {
    const { instance: i } = (await r.call("instance.register", { url: "http://127.0.0.1:25002" })).body;
    const reported = await r.call("instance.status", { id: i.id, status: "Starting", details: "deploying v2" });
    assert.equal(reported.body.instance.status, "Starting");
    assert.equal(reported.body.instance.statusCause, "reported");
    assert.deepEqual(await statusChanges(r, i.id), ["Starting:reported"]);
  });

  test("health - reporting a status: unknown instance 404, bad status 400, nothing written", async () => {
    const before = await r.eventCount();
    assert.equal((await r.call("instance.status", { id: "nobody", status: "Stopping" })).code, 404);
    const bad = await r.call("instance.status", { id: "nobody", status: "Sleeping" });
    assert.equal(bad.code, 400);
    assert.match(bad.body.error.message, /\/status must be one of/);
    assert.equal((await r.call("instance.register", { url: "http://127.0.0.1:1", check: { type: "ping" } })).code, 400);
    assert.equal(await r.eventCount(), before);
  });

  test("health - list with healthy: true gives Healthy and Degraded instances", async () => {
    for (const [n, status] of [["h1", "Healthy"], ["h2", "Degraded"], ["h3", "Unhealthy"], ["h4", "Starting"]] as const) {
      await r.call("instance.register", { id: n, url: `http://127.0.0.1:${7700 + n.length + Number(n[1])}`, slug: "filter-health", status });
    }
    const ids = async (filter: object) => (await r.call("instance.list", { slug: "filter-health", ...filter })).body.instances.map((i: Instance) => i.id).sort();
    assert.deepEqual(await ids({ healthy: true }), ["h1", "h2"]);
    assert.deepEqual(await ids({ healthy: false }), ["h3", "h4"]);
    assert.deepEqual(await ids({ status: "Degraded" }), ["h2"]);
  });
});

describe("health: leases and expiry protection", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry({ ...FAST, expiryProtectionShare: 0.5, expiryProtectionWindowMs: 5000 });
    // Its own node joins on its first heartbeat, an event: before the tests count what is stored.
    await until(async () => (await r.call("node.list", {})).body.nodes.length === 1, "the registry's own node to join");
  });
  after(async () => r.stop());

  /** Renews the given instances every 100 ms until `stop()`; `last()` is when the last renewal was sent. */
  function renewing(ids: string[]) {
    let on = true;
    let last = 0;
    const loop = (async () => {
      while (on) {
        const sentAt = Date.now();
        await Promise.all(ids.map((id) => r.call("instance.renew", { id })));
        last = sentAt;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    return { stop: async () => ((on = false), await loop), last: () => last };
  }

  /** The events after `from` up to `to`, by subject and type: what a failure names. */
  const eventsBetween = async (from: number, to: number) => {
    const jsm = await jetstreamManager(r.nc);
    const found: string[] = [];
    for (let seq = from + 1; seq <= to; seq++) {
      const m = await jsm.streams.getMessage("REGISTRY_EVENTS", { seq }).catch(() => undefined);
      found.push(m ? `${m.subject} ${(m.json<{ type?: string }>()).type ?? "?"}` : `${seq} gone`);
    }
    return found.join(", ") || "none";
  };

  /** The last sequence of the events stream and the instances bucket: what has been stored so far. */
  const storedSoFar = async () => {
    const jsm = await jetstreamManager(r.nc);
    return Promise.all(["REGISTRY_EVENTS", "KV_registry_instances"].map(async (s) => (await jsm.streams.info(s)).state.last_seq));
  };

  test("lease - a renewed lease stays Healthy without a stored write; an unrenewed one turns Unhealthy on time, then expires after its grace", async () => {
    const { instance: i } = (await r.call("instance.register", { url: "http://127.0.0.1:7801", slug: "leased-svc", ttlSeconds: 0.5, graceSeconds: 0.5 })).body;
    assert.equal(i.status, "Unknown");
    const renewal = await r.call("instance.renew", { id: i.id });
    assert.equal(renewal.body.instance.status, "Healthy", "the first renewal of a lease-only instance makes it Healthy");
    await until(async () => (await instance(r, i.id))?.status === "Healthy", "the recovery to be projected");
    const stored = await storedSoFar();
    const loop = renewing([i.id]);
    const renewedAt = Date.now();
    await until(() => Date.now() > renewedAt + 1500, "three ttls of renewals");
    await loop.stop();
    const lastRenewal = loop.last();
    const storedNow = await storedSoFar();
    assert.deepEqual(storedNow, stored, `renewals store nothing: no event, no bucket write (written meanwhile: ${await eventsBetween(stored[0]!, storedNow[0]!)})`);
    assert.deepEqual(await statusChanges(r, i.id), ["Healthy:lease-renewed"]);
    assert.ok(Date.parse((await instance(r, i.id))!.lastHeartbeat!) < renewedAt, "the stored lastHeartbeat is a coarse record, not moved by each renewal");

    await until(statusIs(r, i.id, "Unhealthy"), "the lapsed lease to make it Unhealthy");
    await until(async () => (await r.call("instance.get", { id: i.id })).code === 404, "the lease to expire after its grace");
    const history = await instanceEvents(r, i.id);
    assert.deepEqual(history.map((e) => e.type).slice(-2), ["InstanceStatusChanged", "InstanceExpired"]);
    const unhealthyAt = Date.parse(history.at(-2)!.metadata.at);
    const expiredAt = Date.parse(history.at(-1)!.metadata.at);
    assert.ok(unhealthyAt >= lastRenewal + 500 && unhealthyAt < lastRenewal + 500 + 1000, `Unhealthy ${unhealthyAt - lastRenewal} ms after the last renewal`);
    assert.ok(expiredAt >= lastRenewal + 1000 && expiredAt < lastRenewal + 1000 + 1000, `expired ${expiredAt - lastRenewal} ms after the last renewal`);
    assert.match(history.at(-1)!.data.reason, /lease of 0.5s not renewed since/);
    assert.equal((await r.call("instance.renew", { id: i.id })).code, 404, "an expired instance must register again");
  });

  test("lease - renewing an instance without a lease is refused with 400", async () => {
    const { instance: i } = (await r.call("instance.register", { url: "http://127.0.0.1:7802" })).body;
    const reply = await r.call("instance.renew", { id: i.id });
    assert.equal(reply.code, 400);
    assert.match(reply.body.error.message, /has no lease to renew; register it with ttlSeconds/);
  });

  test("protection - a burst of lapsed leases pauses expiry, shows in health.status and $SRV.STATS, and lifts when renewals recover", async () => {
    const ids: string[] = [];
    for (let n = 0; n < 10; n++) {
      ids.push((await r.call("instance.register", { url: `http://127.0.0.1:${7900 + n}`, slug: "burst-svc", ttlSeconds: 0.5, graceSeconds: 0.5 })).body.instance.id);
    }
    const steady = renewing(ids.slice(0, 4));
    let lapsing = renewing(ids.slice(4));
    await until(async () => (await r.call("instance.list", { slug: "burst-svc", healthy: true })).body.instances.length === 10, "all ten renewed");
    await lapsing.stop();
    const stoppedAt = Date.now();
    const engaged = await until(async () => {
      const status = (await r.call("health.status")).body;
      return status.protection.engaged ? status : undefined;
    }, "six of ten lapsed leases to engage the protection");
    assert.match(engaged.protection.reason, /^6 of 10 leases \(60%\) lapsed within 5s, over the 50% limit; lease expiry is paused$/);
    const stats = (await r.nc.request("$SRV.STATS.registry", "", { timeout: 5000 })).json<{ endpoints: { data: unknown }[] }>();
    assert.deepEqual((stats.endpoints[0]?.data as { expiryProtection: { engaged: boolean } }).expiryProtection.engaged, true);

    await until(() => Date.now() > stoppedAt + 2500, "well past ttl and grace of the lapsed leases");
    assert.equal((await r.call("instance.list", { slug: "burst-svc" })).body.instances.length, 10, "nothing expired while protected");
    const protectionEvents = () => historyOf(r.nc, "REGISTRY_EVENTS", "registry.events.protection.expiry");
    assert.deepEqual((await protectionEvents()).map((e) => e.type), ["ExpiryProtectionEngaged"]);

    lapsing = renewing(ids.slice(4));
    await until(async () => !(await r.call("health.status")).body.protection.engaged, "renewals to recover and lift the protection");
    await lapsing.stop();
    await steady.stop();
    assert.deepEqual((await protectionEvents()).map((e) => e.type), ["ExpiryProtectionEngaged", "ExpiryProtectionReleased"]);
    assert.match((await protectionEvents()).at(-1)!.data.reason, /^renewals recovered/);
  });

  test("protection - an operator can switch it off, and then a burst expires", async () => {
    const switched = await r.call("health.protection", { enabled: false });
    assert.deepEqual(switched.body.protection, { enabled: false, engaged: false });
    const ids: string[] = [];
    for (let n = 0; n < 4; n++) {
      ids.push((await r.call("instance.register", { url: `http://127.0.0.1:${7950 + n}`, slug: "unprotected-svc", ttlSeconds: 0.3, graceSeconds: 0.2 })).body.instance.id);
    }
    await until(async () => (await r.call("instance.list", { slug: "unprotected-svc" })).body.instances.length === 0, "all four to expire");
    const events = await historyOf(r.nc, "REGISTRY_EVENTS", "registry.events.protection.expiry");
    assert.equal(events.at(-1)?.type, "ExpiryProtectionSwitched");
    assert.equal((await r.call("health.status")).body.protection.enabled, false);
    await r.call("health.protection", { enabled: true });
  });
});

describe("health: instances follow their node", () => {
  test("node - instances of a node that goes Offline become Unreachable, and return to their status when it is back", async () => {
    const r = await startTestRegistry(FAST);
    try {
      let worker = agent(r.nc, "worker-h", r.server.dir);
      const nodeUrl = worker.identity.url;
      await until(async () => (await r.call("node.get", { id: "worker-h" })).body.node?.status === "Online", "worker-h to join");
      const { instance: i } = (await r.call("instance.register", { url: "http://127.0.0.1:7990", nodeUrl, status: "Healthy" })).body;
      worker.stop();
      await until(statusIs(r, i.id, "Unreachable"), "the instance to follow its node Offline");
      assert.equal((await instance(r, i.id))?.statusCause, "node-offline");
      worker = agent(r.nc, "worker-h", r.server.dir);
      await until(statusIs(r, i.id, "Healthy"), "the instance to return with its node");
      worker.stop();
      assert.deepEqual((await statusChanges(r, i.id)).slice(0, 2), ["Unreachable:node-offline", "Healthy:node-online"]);
    } finally {
      await r.stop();
    }
  });
});

describe("health: two registry replicas", () => {
  test("replicas - every instance is checked, by one replica or the other, and each transition is written once", async () => {
    const server = await startNatsServer();
    const a = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "replica-a" });
    const b = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "replica-b" });
    const c = await clientFor(server.url);
    const target = await startHttpTarget();
    try {
      await until(() => a.registry.members().length === 2 && b.registry.members().length === 2, "each replica to see the other");
      const ids: string[] = [];
      // slowMs well up: this test is about who checks, and a loaded machine must not read as Degraded
      for (let n = 0; n < 12; n++) {
        ids.push((await c.call("instance.register", { url: `${target.url}/i${n}`, slug: "shared-svc", check: check({ path: undefined, slowMs: 2500 }) })).body.instance.id);
      }
      await until(async () => (await c.call("instance.list", { slug: "shared-svc", status: "Healthy" })).body.instances.length === 12, "all twelve Healthy");
      await target.stop();
      await until(async () => (await c.call("instance.list", { slug: "shared-svc", status: "Unreachable" })).body.instances.length === 12, "all twelve Unreachable");
      const checkers = new Set<string>();
      for (const id of ids) {
        const changes = (await instanceEvents(c, id)).filter((e) => e.type === "InstanceStatusChanged");
        assert.deepEqual(changes.map((e) => e.data.to), ["Healthy", "Unreachable"], id);
        for (const e of changes) checkers.add(/checked by (registry \S+)\)$/.exec(e.data.reason)?.[1] ?? "?");
      }
      assert.equal(checkers.size, 2, `both replicas checked: ${[...checkers].join(", ")}`);
    } finally {
      await target.stop();
      await c.nc.close();
      for (const x of [a, b]) {
        await x.registry.stop();
        await x.nc.close();
      }
      await server.stop();
    }
  });
});
