/**
 * The registry's streams and buckets changed from outside (any client of an open server can):
 * found at start and by the timer, logged and counted, restored where that is safe, and a
 * rebuild never deletes entries because the stream lost the events explaining them.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { namesFor } from "../src/contract/names.ts";
import { startRegistry } from "../src/app/registry.ts";
import { rebuildBuckets } from "../src/app/storage.ts";
import { startNatsServer } from "./harness/natsServer.ts";
import { clientFor, silentLog, testConfig, type Client } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const names = namesFor("registry");

async function withRegistry(overrides: Parameters<typeof testConfig>[2], body: (c: Client, r: Awaited<ReturnType<typeof startRegistry>>, lines: string[], url: string, dir: string) => Promise<void>) {
  const server = await startNatsServer();
  const c = await clientFor(server.url);
  const nc = await connect({ servers: server.url });
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const r = await startRegistry(nc, testConfig(server.url, server.dir, { offlineAfterMs: 600_000, ...overrides }), log);
  try {
    await body(c, r, lines, server.url, server.dir);
  } finally {
    await c.nc.close();
    await r.stop();
    await nc.close();
    await server.stop();
  }
}

async function registerSome(c: Client, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await c.call("instance.register", { url: `http://127.0.0.1:${7300 + i}`, slug: "kept-svc" })).body.instance.id);
  return ids;
}

const updateEvents = async (c: Client, change: Record<string, unknown>) => {
  const { config } = await c.jsm.streams.info(names.eventsStream);
  await c.jsm.streams.update(names.eventsStream, { ...config, ...change });
};

describe("storage: changed from outside", () => {
  test("storage - max_msgs=1 set by another client is found on the timer, logged, counted and undone; a rebuild then keeps every entry", async () => {
    await withRegistry({ storageCheckMs: 300 }, async (c, r, lines) => {
      const ids = await registerSome(c, 6);
      await r.checkStorage();
      assert.equal((await c.call("health.status")).body.storage.changes, 0, "the registry's own configuration is no change");
      await updateEvents(c, { max_msgs: 1 });
      const status = await until(async () => {
        const s = (await c.call("health.status")).body;
        return s.storage.changes >= 1 ? s : undefined;
      }, "the change to be found by the storage check");
      assert.equal(status.storage.lastChange.stream, names.eventsStream);
      assert.ok(status.storage.lastChange.dropsHistory.includes("max_msgs=1"), JSON.stringify(status.storage.lastChange));
      assert.equal(status.storage.lastChange.restored, true);
      assert.equal((await c.jsm.streams.info(names.eventsStream)).config.max_msgs, -1, "the registry's configuration is back");
      assert.ok(lines.some((l) => l.includes(`${names.eventsStream} was reconfigured outside the registry, to drop history`)), "an error is logged");
      const metrics = await (await fetch(`${r.httpUrl}/metrics`)).text();
      assert.match(metrics, new RegExp(`registry_storage_changes_total\\{stream="${names.eventsStream}"\\} [1-9]`));

      const rebuilt = await rebuildBuckets(c.nc, names, silentLog);
      assert.ok(rebuilt.kept >= ids.length - 1, `entries whose events were dropped are kept (${JSON.stringify(rebuilt)})`);
      assert.equal(rebuilt.removed, 0);
      for (const id of ids) assert.equal((await c.call("instance.get", { id })).code, undefined, `${id} is still registered`);
    });
  });

  test("storage - while the stream drops history a rebuild refuses and deletes nothing, and a registry refuses to start on it", async () => {
    await withRegistry({ storageCheckMs: 600_000 }, async (c, _r, _lines, url, dir) => {
      const ids = await registerSome(c, 4);
      await updateEvents(c, { max_age: 3_600_000_000_000 });
      await assert.rejects(rebuildBuckets(c.nc, names, silentLog), /refusing to rebuild: .*max_age=.*set outside the registry/);
      const nc = await connect({ servers: url });
      try {
        await assert.rejects(startRegistry(nc, testConfig(url, dir, { nodeId: "second" }), silentLog), /refusing to start: .*max_age=.*drops history/);
      } finally {
        await nc.close();
      }
      for (const id of ids) assert.equal((await c.call("instance.get", { id })).code, undefined);
    });
  });

  test("storage - an event stream deleted while running is not created again, and a rebuild on one created again later deletes nothing", async () => {
    await withRegistry({ storageCheckMs: 600_000 }, async (c, r, lines) => {
      const ids = await registerSome(c, 4);
      const { config } = await c.jsm.streams.info(names.eventsStream);
      await c.jsm.streams.delete(names.eventsStream);
      await r.checkStorage();
      assert.ok(lines.some((l) => l.includes(`${names.eventsStream} is gone: deleted outside the registry"`)), "logged, and not restored");
      assert.match(await (await fetch(`${r.httpUrl}/metrics`)).text(), new RegExp(`registry_storage_changes_total\\{stream="${names.eventsStream}"\\} 1`));
      await assert.rejects(c.jsm.streams.info(names.eventsStream), "not created again");
      // Callers are told the stream is gone, as a 503, not a timeout of the server or an internal error.
      for (const [subject, body] of [["history", { since: new Date(0).toISOString() }], ["instance.register", { url: "http://127.0.0.1:7399", slug: "kept-svc" }]] as const) {
        const reply = await c.call(subject, body);
        assert.equal(reply.code, 503, `${subject}: ${JSON.stringify(reply.body)}`);
        assert.match(reply.body.error.message, new RegExp(`the stream ${names.eventsStream} is gone: it was deleted outside the registry.*restore it from a backup`), subject);
      }
      await assert.rejects(c.jsm.streams.info(names.eventsStream), "not created by a write either");
      await c.jsm.streams.add(config); // as another client (or an old registry) would
      await assert.rejects(rebuildBuckets(c.nc, names, silentLog), /refusing to rebuild: .*was created at .* after the bucket/);
      for (const id of ids) assert.equal((await c.call("instance.get", { id })).code, undefined, `${id} is still registered`);
    });
  });
});
