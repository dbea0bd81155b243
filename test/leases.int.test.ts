/**
 * Leases renewed by publish (`registry.lease.<slug>.<id>`): folded in memory, nothing stored
 * while they keep coming; a lapse decided alike whichever registry process sees it; nothing
 * that kept renewing expires across a registry restart or a nats-server restart.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RegistryClient } from "../src/client/index.ts";
import { namesFor } from "../src/contract/names.ts";
import { clientFor, historyOf, spawnRegistry, startRegistryOn, startTestRegistry, type Client } from "./harness/registry.ts";
import { connectionsNamed, startNatsServer } from "./harness/natsServer.ts";
import { until } from "./harness/until.ts";

const names = namesFor("registry");
const FAST = { healthTickMs: 100, heartbeatIntervalMs: 200, offlineAfterMs: 1000, expiryProtectionShare: 0 };

const instance = async (c: Client, id: string) => (await c.call("instance.get", { id })).body.instance;
const statusIs = (c: Client, id: string, status: string) => async () => (await instance(c, id))?.status === status;
const statusChanges = async (c: Client, id: string) =>
  (await historyOf(c.nc, names.eventsStream, names.eventSubject("instance", id))).filter((e) => e.type !== "InstanceRegistered").map((e) => `${e.type}:${e.data.instance?.statusCause ?? ""}`);

/** The last sequence of the events stream and the instances bucket: what has been stored so far. */
const storedSoFar = (c: Client) => Promise.all([names.eventsStream, `KV_${names.buckets.instance}`].map(async (s) => (await c.jsm.streams.info(s)).state.last_seq));

/** Publishes a renewal on each subject every 100 ms until stopped. */
function publishing(c: Client, subjects: () => string[]) {
  const timer = setInterval(() => subjects().forEach((s) => c.nc.publish(s)), 100);
  return { stop: () => clearInterval(timer) };
}

describe("leases renewed by publish", () => {
  test("leases - a published renewal keeps the lease with nothing stored; one naming another slug renews nothing", async () => {
    const r = await startTestRegistry(FAST);
    try {
      const a = (await r.call("instance.register", { url: "http://127.0.0.1:7811", slug: "pub-a", ttlSeconds: 0.5, graceSeconds: 60 })).body.instance;
      const b = (await r.call("instance.register", { url: "http://127.0.0.1:7812", slug: "pub-b", ttlSeconds: 0.5, graceSeconds: 60 })).body.instance;
      const renewals = publishing(r, () => [names.leaseSubject(`pub-a.${a.id}`), names.leaseSubject(`pub-a.${b.id}`), `registry.lease.pub-a`, `registry.lease.pub-b.nobody`]);
      try {
        await until(statusIs(r, a.id, "Healthy"), "the first published renewal to make the lease-only instance Healthy");
        await until(statusIs(r, b.id, "Unhealthy"), "b's lease to lapse: its renewals name slug pub-a, not its own");
        const stored = await storedSoFar(r);
        const from = Date.now();
        await until(() => Date.now() > from + 1500, "three ttls of renewals");
        assert.deepEqual(await storedSoFar(r), stored, "renewals store nothing: no event, no bucket write");
        assert.equal((await instance(r, a.id)).status, "Healthy");
        assert.deepEqual(await statusChanges(r, a.id), ["InstanceStatusChanged:lease-renewed"]);
        assert.deepEqual(await statusChanges(r, b.id), ["InstanceStatusChanged:lease-expired"]);
      } finally {
        renewals.stop();
      }
      await until(statusIs(r, a.id, "Unhealthy"), "a's lease to lapse once its renewals stop");
    } finally {
      await r.stop();
    }
  });

  test("leases - a stall of the registry's own event loop (a long GC, a starved CPU) lapses no lease renewed all along", async () => {
    const r = await startTestRegistry(FAST);
    try {
      const a = (await r.call("instance.register", { url: "http://127.0.0.1:7813", slug: "stall", ttlSeconds: 0.5, graceSeconds: 60 })).body.instance;
      const renewals = publishing(r, () => [names.leaseSubject(`stall.${a.id}`)]);
      try {
        await until(statusIs(r, a.id, "Healthy"), "the first renewal to make the instance Healthy");
        // The fault: the process stands still for more than two ttls. Renewals published meanwhile wait in
        // the socket, and the lease tick's timer fires before they are read.
        const end = Date.now() + 1200;
        while (Date.now() < end);
        const from = Date.now();
        await until(() => Date.now() > from + 1500, "three ttls of renewals after the stall");
        assert.deepEqual(await statusChanges(r, a.id), ["InstanceStatusChanged:lease-renewed"], "renewed all along: never lapsed");
        assert.equal((await instance(r, a.id)).status, "Healthy");
      } finally {
        renewals.stop();
      }
    } finally {
      await r.stop();
    }
  });

  test("leases - a process that stalls again and again still lapses a lease no one renews: a stall delays a verdict by its length only", async () => {
    const r = await startTestRegistry(FAST);
    const stalling = setInterval(() => {
      const end = Date.now() + 300;
      while (Date.now() < end);
    }, 500);
    try {
      const a = (await r.call("instance.register", { url: "http://127.0.0.1:7814", slug: "stall", ttlSeconds: 1, graceSeconds: 60 })).body.instance;
      const renewals = publishing(r, () => [names.leaseSubject(`stall.${a.id}`)]);
      await until(statusIs(r, a.id, "Healthy"), "renewals to make the instance Healthy");
      renewals.stop();
      // 300 ms of every 500 stood still: a second of silence takes about two and a half.
      await until(statusIs(r, a.id, "Unhealthy"), "the lease to lapse although the process keeps stalling", 10_000);
    } finally {
      clearInterval(stalling);
      await r.stop();
    }
  });

  test("leases - with two registry processes, renewed leases stay Healthy and a lapsed one lapses once, alike for both", async () => {
    const server = await startNatsServer();
    const one = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "lease-a" });
    const two = await startRegistryOn(server.url, server.dir, { ...FAST, nodeId: "lease-b" });
    const c = await clientFor(server.url);
    try {
      await until(() => one.registry.members().length === 2 && two.registry.members().length === 2, "each process to see the other");
      const ids: string[] = [];
      for (let n = 0; n < 12; n++) {
        ids.push((await c.call("instance.register", { url: `http://127.0.0.1:${7820 + n}`, slug: `two-${n % 4}`, ttlSeconds: 0.5, graceSeconds: 60 })).body.instance.id);
      }
      const key = (id: string) => `two-${ids.indexOf(id) % 4}.${id}`;
      let renewed = ids;
      const renewals = publishing(c, () => renewed.map((id) => names.leaseSubject(key(id))));
      try {
        await until(async () => (await c.call("instance.list", { slug: "two-0", healthy: true })).body.instances.length === 3, "renewals to make two-0's instances Healthy");
        for (const id of ids) await until(statusIs(c, id, "Healthy"), `${id} Healthy`);
        const from = Date.now();
        await until(() => Date.now() > from + 1500, "three ttls of renewals");
        const lapsing = ids.filter((_, n) => n % 2 === 0);
        renewed = ids.filter((id) => !lapsing.includes(id));
        for (const id of lapsing) await until(statusIs(c, id, "Unhealthy"), `${id}'s lease to lapse`);
        const after = Date.now();
        await until(() => Date.now() > after + 1000, "two more ttls");
        for (const id of renewed) assert.deepEqual(await statusChanges(c, id), ["InstanceStatusChanged:lease-renewed"], `${id} renewed all along`);
        for (const id of lapsing) assert.deepEqual(await statusChanges(c, id), ["InstanceStatusChanged:lease-renewed", "InstanceStatusChanged:lease-expired"], `${id} lapsed once`);
      } finally {
        renewals.stop();
      }
    } finally {
      await c.nc.close();
      for (const x of [one, two]) {
        await x.registry.stop();
        await x.nc.close();
      }
      await server.stop();
    }
  });

  test("leases - two registry processes each hear only their own share of the slugs; when one is killed the other takes it on and nothing lapses", async () => {
    const server = await startNatsServer();
    const env = (node: string) => ({ OB_NODE_ID: node, OB_SELF_URL: `http://127.0.0.1:${node === "share-a" ? 11601 : 11602}`, REGISTRY_DATA_DIR: server.dir, REGISTRY_HEALTH_TICK_MS: "100", REGISTRY_EXPIRY_PROTECTION_SHARE: "0" });
    // Started one by one inside the try: if the second cannot start, the first is stopped all the same.
    const procs: Awaited<ReturnType<typeof spawnRegistry>>[] = [];
    const c = await clientFor(server.url);
    const slugs = Array.from({ length: 16 }, (_, n) => `share-${n}`);
    /** The slugs each registry connection hears renewals of, from nats-server's view of its subscriptions. */
    const heardBy = async () =>
      (await connectionsNamed(server, "registry"))
        .map((conn) => (conn.subscriptions_list ?? []).filter((s) => s.startsWith("registry.lease.")).map((s) => s.split(".")[2]!).sort())
        .filter((heard) => heard.length > 0);
    try {
      procs.push(await spawnRegistry(server.url, env("share-a")), await spawnRegistry(server.url, env("share-b")));
      const ids: string[] = [];
      for (const [n, slug] of slugs.entries()) ids.push((await c.call("instance.register", { url: `http://127.0.0.1:${7860 + n}`, slug, ttlSeconds: 2, graceSeconds: 60 })).body.instance.id);
      const renewals = publishing(c, () => ids.map((id, n) => names.leaseSubject(`${slugs[n]}.${id}`)));
      try {
        for (const id of ids) await until(statusIs(c, id, "Healthy"), `${id} renewed`);
        const shares = await until(async () => {
          const heard = await heardBy();
          return heard.length === 2 && heard.flat().length === slugs.length ? heard : undefined;
        }, "each process to hear its own share, and every slug to be heard once", 10_000);
        assert.deepEqual(shares.flat().sort(), [...slugs].sort(), "every slug heard, by one process only");
        assert.ok(shares.every((share) => share.length < slugs.length), `the slugs split: ${shares.map((s) => s.length).join(" and ")}`);

        procs[0]!.child.kill("SIGKILL");
        await procs[0]!.stop();
        await until(async () => {
          const heard = await heardBy();
          return heard.length === 1 && heard[0]!.length === slugs.length;
        }, "the survivor to take the killed process's share on", 10_000);
        const from = Date.now();
        await until(() => Date.now() > from + 3000, "more than a ttl of renewals after the takeover");
        for (const id of ids) {
          assert.equal((await instance(c, id)).status, "Healthy", id);
          assert.deepEqual(await statusChanges(c, id), ["InstanceStatusChanged:lease-renewed"], `${id} never lapsed`);
        }
      } finally {
        renewals.stop();
      }
    } finally {
      await c.nc.close();
      for (const p of procs) await p.stop();
      await server.stop();
    }
  });

  test("leases - a registry restart (SIGKILL) and a nats-server restart under renewals expire nothing that kept renewing", async () => {
    const server = await startNatsServer();
    const env = { OB_NODE_ID: "restarted-node", OB_SELF_URL: "http://127.0.0.1:11337", REGISTRY_DATA_DIR: server.dir, REGISTRY_HEALTH_TICK_MS: "100", REGISTRY_EXPIRY_PROTECTION_SHARE: "0" };
    // Without the expiry protection, which would otherwise hide a mass lapse at a restart: the grace after a start or reconnect is what keeps these.
    let proc = await spawnRegistry(server.url, env);
    const c = await clientFor(server.url);
    const services = [];
    try {
      const client = new RegistryClient(c.nc);
      for (let n = 0; n < 6; n++) services.push(await client.selfRegister({ url: `http://127.0.0.1:${7840 + n}`, slug: "restart-svc", ttlSeconds: 3, graceSeconds: 3 }));
      const ids = services.map((s) => s.instance().id);
      for (const id of ids) await until(statusIs(c, id, "Healthy"), `${id} renewed by the client's publishes`);
      // Renewed for longer than the ttl, so that the stored lastHeartbeat alone would have them lapse at the restart.
      const renewedFrom = Date.now();
      await until(() => Date.now() > renewedFrom + 4000, "renewals for longer than the ttl");

      proc.child.kill("SIGKILL");
      await proc.stop();
      proc = await spawnRegistry(server.url, env);
      const restartedAt = Date.now();
      await until(() => Date.now() > restartedAt + 6500, "past ttl and grace after the registry's restart");

      // Down for longer than the ttl: renewals published meanwhile are lost, or flushed at a reconnect.
      await server.halt();
      const haltedAt = Date.now();
      await until(() => Date.now() > haltedAt + 4000, "nats-server down for longer than the ttl");
      await server.restart();
      await until(async () => (await c.call("health.status").catch(() => undefined))?.body?.leases?.total === 6, "the registry to answer after nats-server's restart", 20_000);
      const backAt = Date.now();
      await until(() => Date.now() > backAt + 6500, "past ttl and grace after nats-server's restart");

      for (const id of ids) {
        assert.equal((await instance(c, id))?.status, "Healthy", id);
        assert.deepEqual(await statusChanges(c, id), ["InstanceStatusChanged:lease-renewed"], `${id} never lapsed`);
      }
    } finally {
      for (const s of services) await s.stop().catch(() => undefined);
      await c.nc.close();
      await proc.stop();
      await server.stop();
    }
  });
});
