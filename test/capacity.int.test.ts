/**
 * The event stream at REGISTRY_EVENTS_MAX_BYTES: callers are refused at the limit, the
 * registry's own liveness writes go on into the reserve, the server holds the hard cap, and
 * every registry process refuses as soon as one does.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DiscardPolicy, StorageType, jetstream } from "@nats-io/jetstream";
import { namesFor } from "../src/contract/names.ts";
import { RegistryError } from "../src/contract/errors.ts";
import { provisionRegistry, DEFAULT_STREAM_LIMITS } from "../src/app/storage.ts";
import { startNatsServer } from "./harness/natsServer.ts";
import { heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { clientFor, historyOf, startRegistryOn, testConfig } from "./harness/registry.ts";
import { startRegistry } from "../src/app/registry.ts";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { until } from "./harness/until.ts";

const names = namesFor("registry");
const LIMIT = 24 * 1024;
const RESERVE = 64 * 1024;
const streamBytes = async (jsm: Awaited<ReturnType<typeof clientFor>>["jsm"]) => (await jsm.streams.info(names.eventsStream)).state.bytes;

describe("capacity: the event stream at its limit", () => {
  test("capacity - at REGISTRY_EVENTS_MAX_BYTES a caller's write is refused while a lapsed lease and a silent node are still written", async () => {
    const server = await startNatsServer();
    const r = await startRegistryOn(server.url, server.dir, { eventsMaxBytes: LIMIT, eventsReserveBytes: RESERVE, expiryProtectionShare: 0, offlineAfterMs: 2000 });
    const c = await clientFor(server.url);
    const beat = setInterval(() => publishHeartbeat(c.nc, heartbeat("worker-full")), 200);
    try {
      await until(async () => (await c.call("node.get", { id: "worker-full" })).body?.node?.status === "Online", "worker-full to join");
      const leased = (await c.call("instance.register", { url: "http://127.0.0.1:7801", slug: "leased-svc", ttlSeconds: 1 })).body.instance;
      const renew = setInterval(() => void c.call("instance.renew", { id: leased.id }).catch(() => undefined), 200);
      let refused;
      for (let n = 0; n < 1000 && !refused; n++) {
        const reply = await c.call("instance.register", { url: `http://127.0.0.1:${8000 + n}`, slug: "filler-svc", details: "x".repeat(200) });
        if (reply.code !== undefined) refused = reply;
      }
      clearInterval(renew);
      assert.equal(refused?.code, 503, "a caller's write is refused at the limit");
      assert.match(refused.body.error.message, /takes no more events .*nothing was written.*Raise REGISTRY_EVENTS_MAX_BYTES/);
      clearInterval(beat);

      await until(async () => (await c.call("node.get", { id: "worker-full" })).body.node.status === "Offline", "the silent node to go Offline past the limit");
      // Unhealthy, then (after its grace) deregistered: on a loaded machine the second may come before a look.
      await until(async () => {
        const reply = await c.call("instance.get", { id: leased.id });
        return reply.code === 404 || reply.body.instance.status === "Unhealthy";
      }, "the lapsed lease to be written past the limit");
      const lapse = (await historyOf(c.nc, names.eventsStream, names.eventSubject("instance", leased.id))).find((e) => e.type === "InstanceStatusChanged" && e.data.to === "Unhealthy");
      assert.ok(lapse, "the lease's lapse is an event in the stream");
      const before = await c.eventCount();
      assert.equal((await c.call("instance.register", { url: "http://127.0.0.1:7999", slug: "filler-svc" })).code, 503, "callers are still refused");
      assert.equal(await c.eventCount(), before, "nothing was written for the refused caller");
      const bytes = await streamBytes(c.jsm);
      assert.ok(bytes >= LIMIT && bytes <= LIMIT + RESERVE, `${bytes} bytes: past the limit, within the reserve`);
      const { config } = await c.jsm.streams.info(names.eventsStream);
      assert.equal(config.max_bytes, LIMIT + RESERVE, "the server holds the hard cap");
      assert.equal(config.discard, DiscardPolicy.New, "and refuses rather than dropping old events");
      const status = (await c.call("health.status")).body;
      assert.deepEqual([status.events.maxBytes, status.events.reserveBytes], [LIMIT, RESERVE]);
    } finally {
      clearInterval(beat);
      await c.nc.close();
      await r.registry.stop();
      await r.nc.close();
      await server.stop();
    }
  });

  test("capacity - two registry processes agree: once one refuses callers the other does too, and nothing passes the hard cap", async () => {
    const server = await startNatsServer();
    const overrides = { eventsMaxBytes: LIMIT, eventsReserveBytes: RESERVE, offlineAfterMs: 600_000 };
    const a = await startRegistryOn(server.url, server.dir, overrides);
    const b = await startRegistryOn(server.url, server.dir, { ...overrides, nodeId: "other-node" });
    const c = await clientFor(server.url);
    const register = (r: typeof a, n: number) => r.registry.commands.registerInstance({ url: `http://127.0.0.1:${9000 + n}`, slug: "race-svc", details: "y".repeat(200) }, {});
    try {
      let n = 0;
      for (; n < 1000; n++) {
        const refused = await register(a, n).then(
          () => false,
          (err: unknown) => err instanceof RegistryError && err.code === 503,
        );
        if (refused) break;
      }
      assert.ok(n < 1000, "registry a refused a caller");
      await assert.rejects(register(b, n + 1), (err: RegistryError) => err.code === 503, "registry b refuses as a does, without waiting for its poll");
      // Both, hard at once: callers stop at the limit on both, within what is in flight.
      const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => register(i % 2 ? a : b, n + 2 + i)));
      assert.ok(results.every((s) => s.status === "rejected"), "no caller's write is accepted past the limit");
      const bytes = await streamBytes(c.jsm);
      assert.ok(bytes < LIMIT + RESERVE, `${bytes} bytes: no overshoot beyond the reserve`);
    } finally {
      await c.nc.close();
      for (const r of [a, b]) {
        await r.registry.stop();
        await r.nc.close();
      }
      await server.stop();
    }
  });

  test("capacity - a stream made by an older version (no byte limit, discard old) is updated in place at start, and one already past the cap keeps every event", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    try {
      await c.jsm.streams.add({ name: names.eventsStream, subjects: [names.eventSubjects], storage: StorageType.File, max_msgs_per_subject: 10_000, discard: DiscardPolicy.Old });
      const js = jetstream(c.nc);
      for (let i = 0; i < 50; i++) await js.publish(names.eventSubject("definition", `old-${i}`), JSON.stringify({ pad: "z".repeat(400) }));
      const held = (await c.jsm.streams.info(names.eventsStream)).state;
      await provisionRegistry(c.nc, c.jsm, names, { ...DEFAULT_STREAM_LIMITS, eventsMaxBytes: 1024, eventsReserveBytes: 4096 });
      const { config, state } = await c.jsm.streams.info(names.eventsStream);
      assert.equal(config.discard, DiscardPolicy.New);
      assert.equal(state.messages, held.messages, "no event dropped to fit the limit");
      assert.equal(config.max_bytes, held.bytes + 4096, "the cap is stretched over what the stream holds, plus the reserve");
      await provisionRegistry(c.nc, c.jsm, names, { ...DEFAULT_STREAM_LIMITS, eventsMaxBytes: 1024, eventsReserveBytes: 4096 });
      assert.equal((await c.jsm.streams.info(names.eventsStream)).config.max_bytes, held.bytes + 4096, "and kept at the next start");
    } finally {
      await c.nc.close();
      await server.stop();
    }
  });

  test("capacity - on nats-server 2.9.10 an entity at its per-entity limit still drops its oldest event when the stream is at its cap", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    try {
      await c.jsm.streams.add({ name: "CAP", subjects: ["cap.>"], storage: StorageType.File, max_msgs_per_subject: 3, max_bytes: 1000, discard: DiscardPolicy.New });
      const js = jetstream(c.nc);
      for (let i = 0; i < 3; i++) await js.publish("cap.a", "x".repeat(100));
      let others = 0;
      for (; others < 20; others++) {
        const stored = await js.publish(`cap.b${others}`, "x".repeat(100)).then(() => true, () => false);
        if (!stored) break;
      }
      assert.ok(others < 20, "a new entity is refused at the cap");
      await js.publish("cap.a", "y".repeat(100)); // not refused
      const { state } = await c.jsm.streams.info("CAP", { subjects_filter: "cap.a" });
      assert.equal(state.subjects?.["cap.a"], 3, "its oldest went, as REGISTRY_EVENTS_HISTORY_PER_ENTITY says");
    } finally {
      await c.nc.close();
      await server.stop();
    }
  });
});

describe("capacity: nodes past REGISTRY_HEARTBEAT_SUBJECTS", () => {
  test("heartbeats - more nodes than the limit: those past it do not join, their heartbeats are counted as dropped in health status and metrics, and a warning is logged once", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    let r: Awaited<ReturnType<typeof startRegistry>> | undefined;
    const nc = await connect({ servers: server.url });
    try {
      r = await startRegistry(nc, testConfig(server.url, server.dir, { heartbeatSubjects: 50, offlineAfterMs: 600_000 }), log);
      await until(async () => (await c.call("node.get", { id: "self-node" })).body.node !== undefined, "the registry's own node to join");
      for (let n = 0; n < 200; n++) publishHeartbeat(c.nc, heartbeat(`crowd-${n}`));
      const status = await until(async () => {
        const s = (await c.call("health.status")).body;
        return s.heartbeats.dropped >= 150 ? s : undefined;
      }, "the dropped heartbeats to show in health status");
      assert.equal(status.heartbeats.maxNodes, 50);
      await until(async () => (await c.call("node.list", { limit: 1000 })).body.nodes.length === 50, "fifty nodes joined");
      assert.equal((await c.call("node.list", { limit: 1000 })).body.nodes.length, 50, "no more than the limit");
      const metrics = await (await fetch(`${r.httpUrl}/metrics`)).text();
      const dropped = Number(/registry_heartbeats_total\{outcome="dropped"\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(dropped >= 150, `registry_heartbeats_total{outcome="dropped"} is ${dropped}`);
      const warnings = lines.filter((l) => l.includes("node not joined: the registry holds REGISTRY_HEARTBEAT_SUBJECTS nodes already"));
      assert.equal(warnings.length, 1, "a warning names the limit, once, not per heartbeat");
    } finally {
      await c.nc.close();
      await r?.stop();
      await nc.close();
      await server.stop();
    }
  });
});
