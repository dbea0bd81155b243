import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createInbox } from "@nats-io/transport-node";
import { clientFor, historyOf, spawnRegistry, type Client } from "./harness/registry.ts";
import { startNatsServer, type NatsServer } from "./harness/natsServer.ts";

type Stats = { id: string; endpoints: { subject: string; num_requests: number }[] };

describe("two registry processes on one NATS", () => {
  let server: NatsServer;
  let processes: Awaited<ReturnType<typeof spawnRegistry>>[];
  let c: Client;
  before(async () => {
    server = await startNatsServer();
    processes = await Promise.all(
      ["replica-1", "replica-2"].map((id) => spawnRegistry(server.url, { OB_NODE_ID: id, OB_SELF_URL: "http://127.0.0.1:11337", REGISTRY_DATA_DIR: server.dir })),
    );
    c = await clientFor(server.url);
  });
  after(async () => {
    await c.nc.close();
    await Promise.all(processes.map((p) => p.stop()));
    await server.stop();
  });

  /** Per process, how many requests each endpoint answered. */
  async function answeredBy(subject: string): Promise<number[]> {
    const replies: Stats[] = [];
    const sub = c.nc.subscribe(createInbox(), { max: 2 });
    c.nc.publish("$SRV.STATS.registry", "", { reply: sub.getSubject() });
    for await (const m of sub) replies.push(m.json<Stats>());
    return replies.map((s) => s.endpoints.find((e) => e.subject === subject)?.num_requests ?? 0);
  }

  test("replicas - a write acknowledged by one process is seen by the next read, whichever process answers", async () => {
    for (let i = 0; i < 40; i++) {
      const slug = `ryw-${i}`;
      const reg = await c.call("instance.register", { url: `http://127.0.0.1:${20000 + i}`, slug });
      assert.equal(reg.code, undefined);
      const list = await c.call("instance.list", { slug });
      assert.deepEqual(list.body.instances.map((x: { id: string }) => x.id), [reg.body.instance.id], `iteration ${i}`);
      await c.call("instance.remove", { id: reg.body.instance.id });
      const after = await c.call("instance.list", { slug });
      assert.deepEqual(after.body.instances, [], `iteration ${i} after remove`);
    }
    const lists = await answeredBy("registry.instance.list");
    const registers = await answeredBy("registry.instance.register");
    assert.equal(lists.length, 2, "both processes answer $SRV.STATS");
    assert.ok(lists.every((n) => n > 0) && registers.every((n) => n > 0), `both processes served writes and reads: ${lists.join(",")} / ${registers.join(",")}`);
  });

  test("replicas - racing registrations of one new url make one instance with one InstanceRegistered event", async () => {
    const url = "http://127.0.0.1:21000";
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => c.call("instance.register", { url, slug: "race-svc", tags: [`t${i}`] })),
    );
    assert.ok(replies.every((r) => r.code === undefined), JSON.stringify(replies.find((r) => r.code)?.body));
    const ids = new Set(replies.map((r) => r.body.instance.id));
    assert.equal(ids.size, 1, "no twins");
    const createdAt = new Set(replies.map((r) => r.body.instance.createdAt));
    assert.equal(createdAt.size, 1, "created once");
    const [id] = ids;
    const history = await historyOf(c.nc, "REGISTRY_EVENTS", `registry.events.instance.${id}`);
    assert.equal(history.filter((e) => e.type === "InstanceRegistered").length, 1);
    assert.equal(history.length, 40, "each registration changed the tags, so each wrote exactly one event");
    const listed = (await c.call("instance.list", { slug: "race-svc" })).body.instances;
    assert.equal(listed.length, 1);
    assert.deepEqual(listed[0].tags, history.at(-1)?.data.instance.tags, "the read model holds the last event's state");
  });
});
