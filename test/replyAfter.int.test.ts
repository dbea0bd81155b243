import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { historyOf, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

describe("REGISTRY_REPLY_AFTER=append: answered once the event is stored", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry({ replyAfter: "append" });
  });
  after(() => r.stop());

  test("a registration's event is in the stream when the reply comes, and the instance is listed once projected", async () => {
    const reply = await r.call("instance.register", { url: "http://127.0.0.1:24001", slug: "fast" });
    assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    const id = reply.body.instance.id as string;
    const events = await historyOf(r.nc, "REGISTRY_EVENTS", `registry.events.instance.${id}`);
    assert.deepEqual(events.map((e) => e.type), ["InstanceRegistered"]);
    await until(async () => (await r.call("instance.list", { slug: "fast" })).body.instances.length === 1, "the instance to be listed");
  });

  test("writes to one instance in a row all land: a stale read model only costs a lost race", async () => {
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:24002", slug: "fast" })).body.instance.id as string;
    for (const status of ["Starting", "Healthy", "Stopping", "Healthy"]) {
      const reply = await r.call("instance.status", { id, status });
      assert.equal(reply.code, undefined, JSON.stringify(reply.body));
      assert.equal(reply.body.instance.status, status);
    }
    await until(async () => (await r.call("instance.list", { id })).body.instances[0]?.status === "Healthy", "the last status to be listed");
    const events = await historyOf(r.nc, "REGISTRY_EVENTS", `registry.events.instance.${id}`);
    assert.equal(events.length, 5);
  });
});
