/**
 * The in-memory mirror of a bucket, against a real nats-server: entries kept by id (the
 * instances' mirror) follow an id that moves from one key to another, in either order of the
 * put under the new key and the delete of the old one, and answer by KV key only for the key
 * that holds the id now.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { pino } from "pino";
import { KvMirror } from "../src/nats/kvMirror.ts";
import { kvHeadersOf, kvOperationOf } from "../src/nats/kvSubjects.ts";
import { idOfInstanceKey, instanceKey, isInstanceKeyOf } from "../src/contract/ids.ts";
import { startNatsServer } from "./harness/natsServer.ts";

type Item = { id: string; slug: string };

test("kv mirror - by id, an id that moves between keys is held once, under the key that holds it now", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).create("mirror_by_id");
    const changes: string[] = [];
    const mirror = new KvMirror<Item>(jetstream(nc), await jetstreamManager(nc), "mirror_by_id", pino({ level: "silent" }), {
      read: (value, key) => {
        const v = value as Item;
        return instanceKey(v.slug, v.id) === key ? { ok: true, value: v } : { ok: false, reason: "not under its key" };
      },
      byId: { ofKey: idOfInstanceKey, ofValue: (v) => v.id, keyOf: (v) => instanceKey(v.slug, v.id), isKeyOf: isInstanceKeyOf },
    });
    mirror.onChange((key, value, previous) => changes.push(`${key}:${previous ? "had" : "new"}->${value ? value.slug : "gone"}`));
    const put = (slug: string, id: string) => kv.put(`${slug}.${id}`, JSON.stringify({ id, slug }));
    await put("a", "one");
    await put("a", "two");
    await mirror.start();
    // one moves put-first (as a re-registration under another slug writes it), two delete-first.
    await put("b", "one");
    await kv.delete("a.one");
    await kv.delete("a.two");
    await put("c", "two");
    await kv.put("a.three", JSON.stringify({ id: "four", slug: "a" })); // an id that is not its key's: unreadable
    await mirror.sync();
    assert.equal(mirror.size, 2);
    assert.deepEqual([...mirror.entryKeys()].sort(), ["b.one", "c.two"]);
    assert.equal(mirror.get("a.one"), undefined, "the old key holds nothing");
    assert.deepEqual(mirror.get("b.one"), { id: "one", slug: "b" });
    assert.deepEqual(mirror.entryOfId("two")?.value, { id: "two", slug: "c" });
    assert.equal(mirror.entryOfId("four"), undefined);
    assert.deepEqual([...mirror.unreadableKeys()], ["a.three"]);
    assert.ok(mirror.reflects("a.one", 0) && !mirror.reflects("b.one", 1), "versions by KV key");
    assert.deepEqual(changes.slice(2), ["a.one:had->gone", "b.one:new->b", "a.two:had->gone", "c.two:new->c"], "the move seen as the old key's removal, then the new key");
    mirror.stop();
  } finally {
    await nc.close();
    await server.stop();
  }
});

test("kv mirror - a message's operation and version read from its raw header bytes agree with nats.js's decoded headers", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({ name: "HDRS", subjects: ["hdrs.>"] });
    const cases: Record<string, string>[] = [
      {},
      { "Registry-Version": "7" },
      { "Registry-Version": "  12 " },
      { "KV-Operation": "DEL" },
      { "KV-Operation": "PURGE", "Registry-Version": "9" },
      { "KV-Operation": "PUT", "X-Other": "Registry-Version: 3" },
      { "X-Registry-Version": "4" },
      { "registry-version": "5", "KV-Operation": "del" },
      { "Registry-Version": "" },
    ];
    for (const [n, fields] of cases.entries()) {
      const h = headers();
      for (const [k, v] of Object.entries(fields)) h.set(k, v);
      await js.publish(`hdrs.${n}`, "{}", Object.keys(fields).length > 0 ? { headers: h } : {});
    }
    const consumer = await js.consumers.get("HDRS");
    const seen: string[] = [];
    for await (const m of await consumer.consume()) {
      assert.ok((m as unknown as { msg: { _rdata: unknown } }).msg._rdata instanceof Uint8Array, "the raw bytes are where they are read from (not the fallback)");
      const raw = kvHeadersOf(m, "Registry-Version");
      const decoded = { operation: kvOperationOf(m.headers), value: m.headers?.get("Registry-Version") || undefined };
      assert.deepEqual(raw, decoded, `${m.subject}: ${JSON.stringify(cases[m.seq - 1])}`);
      seen.push(`${raw.operation} ${raw.value ?? "-"}`);
      if (m.seq === cases.length) break;
    }
    assert.deepEqual(seen.slice(0, 5), ["PUT -", "PUT 7", "PUT 12", "DEL -", "PURGE 9"]);
  } finally {
    await nc.close();
    await server.stop();
  }
});
