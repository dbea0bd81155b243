import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { namesFor } from "../src/contract/names.ts";
import { nodeInstanceKey } from "../src/contract/ids.ts";
import { RegistryClient } from "../src/client/index.ts";
import { natsEventStore, type EventEnvelope } from "../src/eventstore/eventStore.ts";
import { kvWriter } from "../src/projector/kvWriter.ts";
import { streamRequestsOf } from "../src/nats/streamRequests.ts";
import { projector } from "../src/projector/projector.ts";
import { unreadableCounter } from "../src/unreadable.ts";
import { clientFor, silentLog, startRegistryOn, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { startNatsServer } from "./harness/natsServer.ts";
import { provisionRegistry, rebuildBuckets } from "../src/app/storage.ts";
import { until } from "./harness/until.ts";
import { heartbeat } from "./harness/nodes.ts";

const names = namesFor("registry");

describe("projector", () => {
  let r: TestRegistry;
  let project: ReturnType<typeof projector>["project"];
  before(async () => {
    // No node goes Offline during these tests: liveness events would race the snapshots.
    r = await startTestRegistry({ offlineAfterMs: 600_000 });
    project = projector({ js: jetstream(r.nc), names, writer: kvWriter(streamRequestsOf(r.nc)), log: silentLog, unreadable: unreadableCounter(silentLog) }).project;
  });
  after(async () => r.stop());

  /** The first event on `subject` from sequence `from` on (other entities' events may be interleaved). */
  const firstEventFrom = async (from: number, subject: string) => {
    const m = await r.jsm.direct.getMessage(names.eventsStream, { seq: from, next_by_subj: subject });
    assert.ok(m);
    return { envelope: m.json<EventEnvelope>(), seq: m.seq };
  };
  const instances = () => new Kvm(r.nc).open(names.buckets.instance);

  test("projector - the same event applied twice changes nothing", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://localhost:6001", slug: "p-svc" })).body;
    const kv = await instances();
    const entry = await kv.get(`p-svc.${instance.id}`);
    assert.ok(entry);
    const latest = await natsEventStore(jetstream(r.nc), streamRequestsOf(r.nc), names.eventsStream, { unreadable: unreadableCounter(silentLog) }).readLatest(names.eventSubject("instance", instance.id));
    assert.ok(latest);
    await project(latest.envelope!, latest.seq);
    await project(latest.envelope!, latest.seq);
    assert.equal((await kv.get(`p-svc.${instance.id}`))?.revision, entry.revision, "no new KV revision");
  });

  test("projector - an older event applied after newer ones is skipped, deletes included", async () => {
    const before = (await r.jsm.streams.info(names.eventsStream)).state.last_seq;
    const { instance } = (await r.call("instance.register", { url: "http://localhost:6002", slug: "old-svc", tags: ["v1"] })).body;
    await r.call("instance.register", { url: "http://localhost:6002", slug: "old-svc", tags: ["v2"] });
    const kv = await instances();
    const registered = await firstEventFrom(before + 1, names.eventSubject("instance", instance.id));
    assert.equal(registered.envelope.type, "InstanceRegistered");
    await project(registered.envelope, registered.seq);
    assert.deepEqual((await kv.get(`old-svc.${instance.id}`))?.json<{ tags: string[] }>().tags, ["v2"]);

    await r.call("instance.remove", { id: instance.id });
    await project(registered.envelope, registered.seq);
    assert.equal((await kv.get(`old-svc.${instance.id}`))?.operation, "DEL", "a replayed registration does not resurrect");
    assert.equal((await r.call("instance.get", { id: instance.id })).code, 404);
  });

  test("projector - an event appended but not projected (a crash in between) is projected by the durable consumer", async () => {
    const store = natsEventStore(jetstream(r.nc), streamRequestsOf(r.nc), names.eventsStream, { unreadable: unreadableCounter(silentLog) });
    const at = new Date().toISOString();
    const instance = { id: "inst_orphan", url: "http://localhost:6003", scheme: "http", host: "localhost", port: 6003, slug: "orphan-svc", tags: [], status: "Unknown" as const, createdAt: at, updatedAt: at };
    await store.append(names.eventSubject("instance", instance.id), { type: "InstanceRegistered", data: { instance }, metadata: { at } }, 0);
    const got = await until(async () => (await r.call("instance.get", { id: "inst_orphan" })).body.instance, "the projector to catch up");
    assert.deepEqual(got, instance);
  });

  test("projector - a rebuild from the event stream gives the same buckets", async () => {
    await r.call("definition.save", { definition: { id: "rebuilt", image: { name: "nginx" } } });
    await r.call("instance.register", { url: "http://localhost:6004", slug: "moved-a" });
    await r.call("instance.register", { url: "http://localhost:6004", slug: "moved-b" });
    // The per-node index: one that stays on a node, one that moved to another, one removed from its node.
    await r.call("instance.register", { url: "http://localhost:6005", slug: "on-node", nodeUrl: "http://127.0.0.1:7001" });
    await r.call("instance.register", { url: "http://localhost:6006", slug: "on-node", nodeUrl: "http://127.0.0.1:7001" });
    await r.call("instance.register", { url: "http://localhost:6006", slug: "on-node", nodeUrl: "http://127.0.0.1:7002" });
    const { id: gone } = (await r.call("instance.register", { url: "http://localhost:6007", slug: "on-node", nodeUrl: "http://127.0.0.1:7001" })).body.instance;
    await r.call("instance.remove", { id: gone });
    await r.registry.background.observeHeartbeat(heartbeat("node-r"), new Date().toISOString());
    const kvm = new Kvm(r.nc);
    const snapshot = async () => {
      const all: Record<string, unknown> = {};
      for (const bucket of Object.values(names.buckets)) {
        const kv = await kvm.open(bucket);
        for await (const key of await kv.keys()) {
          if (bucket === names.buckets.node && key === "self-node") continue; // its agent heartbeats (and may flap) on its own schedule
          // Node telemetry is folded in from heartbeats, not events; it changes between snapshots.
          const { lastHeartbeat: _l, usage: _u, gpus: _g, ...value } = (await kv.get(key))?.json<Record<string, unknown>>() ?? {};
          all[`${bucket}/${key}`] = value;
        }
      }
      return all;
    };
    const before = await snapshot();
    assert.ok(Object.keys(before).length >= 3);
    assert.equal(Object.keys(before).filter((k) => k.startsWith(`${names.buckets.nodeInstance}/`)).length, 2, "the index holds the two instances still on a node, once each");
    // Lost buckets: every entry has to come back from the events.
    for (const bucket of Object.values(names.buckets)) await r.jsm.streams.purge(`KV_${bucket}`);
    const { upTo, entities, written } = await rebuildBuckets(r.nc, names, silentLog);
    assert.ok(upTo > entities && entities > 0 && written >= 3, `${upTo} events, ${entities} entities, ${written} written`);
    await until(async () => {
      const now = await snapshot();
      return Object.keys(now).length === Object.keys(before).length && JSON.stringify(now) === JSON.stringify(before);
    }, "the rebuilt buckets to equal the originals");
    assert.deepEqual(await snapshot(), before);
    assert.equal((await r.call("instance.list", { slug: "moved-a" })).body.instances.length, 0);
  });
});

describe("projector: first start", () => {
  test("projector - a registry starting on a stream of events with no projector consumer projects each entity's latest event", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    const js = jetstream(c.nc);
    await provisionRegistry(c.nc, c.jsm, names);
    await c.jsm.consumers.delete(names.eventsStream, "projector");
    const at = new Date().toISOString();
    for (let v = 0; v < 3; v++) {
      const instance = { id: "inst_old", url: "http://127.0.0.1:6100", slug: "old-svc", tags: [`v${v}`], status: "Unknown" as const, createdAt: at, updatedAt: at };
      await js.publish(names.eventSubject("instance", "inst_old"), JSON.stringify({ type: v === 0 ? "InstanceRegistered" : "InstanceUpdated", data: { instance, changed: ["tags"] }, metadata: { at } }));
    }
    const { registry, nc } = await startRegistryOn(server.url, server.dir);
    try {
      assert.deepEqual((await c.call("instance.get", { id: "inst_old" })).body.instance.tags, ["v2"], "projected before the registry answers");
    } finally {
      await c.nc.close();
      await registry.stop();
      await nc.close();
      await server.stop();
    }
  });
});

describe("projector: the per-node index on an upgraded deployment", () => {
  test("projector - a registry starting where the per-node index was never written fills it from the instances bucket", async () => {
    const server = await startNatsServer();
    const c = await clientFor(server.url);
    let started = await startRegistryOn(server.url, server.dir);
    try {
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push((await c.call("instance.register", { url: `http://127.0.0.1:${6200 + n}`, slug: "old-svc", nodeUrl: "http://127.0.0.1:7101" })).body.instance.id);
      await c.call("instance.register", { url: "http://127.0.0.1:6299", slug: "old-svc" });
      await started.registry.stop();
      await started.nc.close();
      // As a version without the index left it: no such bucket.
      await c.jsm.streams.delete(`KV_${names.buckets.nodeInstance}`);
      started = await startRegistryOn(server.url, server.dir);
      const kv = await new Kvm(c.nc).open(names.buckets.nodeInstance);
      const keys = await until(async () => {
        const found: string[] = [];
        for await (const k of await kv.keys()) found.push(k);
        return found.length >= ids.length ? found.sort() : undefined;
      }, "the index to be filled");
      assert.deepEqual(keys, ids.map((id) => nodeInstanceKey("http://127.0.0.1:7101", id)).sort());
    } finally {
      await started.registry.stop();
      await started.nc.close();
      await c.nc.close();
      await server.stop();
    }
  });
});

describe("projector: rebuild under load", () => {
  test("rebuild - under a load of registrations, the rebuilt buckets equal the events folded, and progress is reported", async () => {
    const r = await startTestRegistry({ offlineAfterMs: 600_000 });
    try {
      let stop = false;
      let port = 31000;
      const load = [0, 1, 2].map(async () => {
        while (!stop) await r.call("instance.register", { url: `http://127.0.0.1:${port++}`, slug: "busy-svc", tags: [`t${port % 7}`] });
      });
      await until(async () => (await r.call("instance.list", { slug: "busy-svc", limit: 1 })).body.next !== undefined, "some load");
      const reported: [number, number][] = [];
      await rebuildBuckets(r.nc, names, silentLog, undefined, (done, total) => reported.push([done, total]));
      stop = true;
      await Promise.all(load);
      assert.ok(reported.length > 0 && reported.at(-1)![0] > 0 && reported.every(([done, total]) => done <= total), JSON.stringify(reported.slice(-3)));

      const { stateAsOf } = await import("../src/eventstore/timeTravel.ts");
      const folded = (await stateAsOf({ js: jetstream(r.nc), names, unreadable: unreadableCounter(silentLog) }, await lastSeq(r), { entity: "instance" })).instances;
      const live = await new RegistryClient(r.nc).listInstances({ slug: "busy-svc" });
      const byId = (list: { id: string }[]) => Object.fromEntries(list.map((i) => [i.id, i]));
      assert.deepEqual(byId(live), byId(folded.filter((i) => i.slug === "busy-svc")));
    } finally {
      await r.stop();
    }
  });
});

const lastSeq = async (r: TestRegistry) => (await r.jsm.streams.info(names.eventsStream)).state.last_seq;
