import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

describe("service", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry()));
  after(async () => r.stop());

  test("service - $SRV.INFO names the registry and lists every endpoint", async () => {
    const info = (await r.nc.request("$SRV.INFO.registry", "", { timeout: 5000 })).json<{
      name: string;
      endpoints: { subject: string; queue_group: string }[];
    }>();
    assert.equal(info.name, "registry");
    assert.deepEqual(info.endpoints.map((e) => e.subject).sort(), [
      "registry.access.self",
      "registry.definition.get",
      "registry.definition.list",
      "registry.definition.remove",
      "registry.definition.save",
      "registry.health.protection",
      "registry.health.status",
      "registry.history",
      "registry.instance.checked",
      "registry.instance.get",
      "registry.instance.list",
      "registry.instance.register",
      "registry.instance.remove",
      "registry.instance.renew",
      "registry.instance.status",
      "registry.node.get",
      "registry.node.list",
      "registry.node.remove",
      "registry.node.select",
      "registry.node.self",
      "registry.policy.reload",
      "registry.service.list",
    ]);
    assert.ok(info.endpoints.every((e) => e.queue_group === "registry"));
    const ping = (await r.nc.request("$SRV.PING.registry", "", { timeout: 5000 })).json<{ name: string }>();
    assert.equal(ping.name, "registry");
  });

  test("service - an empty body means {}", async () => {
    const reply = await r.call("definition.list", "");
    assert.equal(reply.code, undefined);
    assert.deepEqual(reply.body, { definitions: [] });
  });

  test("service - a failed request carries the micro error headers and a JSON error body", async () => {
    const reply = await r.call("instance.get", { id: "missing" });
    assert.equal(reply.headers["Nats-Service-Error-Code"], "404");
    assert.equal(reply.headers["Nats-Service-Error"], reply.body.error.message);
    assert.deepEqual(Object.keys(reply.body.error), ["code", "message", "hint"]);
    assert.deepEqual(reply.body.error.hint, { text: "list them", operation: "instance.list" });
  });

  const malformed: [string, string, RegExp][] = [
    ["not JSON", "{nope", /request body is not JSON/],
    ["a JSON array", "[1,2]", /must be a JSON object/],
    ["a JSON string", '"x"', /must be a JSON object/],
    ["null", "null", /must be a JSON object/],
  ];
  for (const [what, body, message] of malformed) {
    test(`service - a body that is ${what} is refused with 400, nothing written`, async () => {
      const before = await r.eventCount();
      const reply = await r.call("instance.register", body);
      assert.equal(reply.code, 400);
      assert.match(reply.body.error.message, message);
      assert.equal(await r.eventCount(), before);
    });
  }

  test("service - wrong types are refused with details for each failing field", async () => {
    const reply = await r.call("instance.register", { url: 42, port: "80", tags: [1] });
    assert.equal(reply.code, 400);
    const paths = reply.body.error.details.map((d: { path: string }) => d.path).sort();
    assert.deepEqual(paths, ["/port", "/tags/0", "/url"]);
  });

  test("service - a request over REGISTRY_MAX_REQUEST_BYTES is refused with 413, nothing written", async () => {
    const before = await r.eventCount();
    const big = { definition: { id: "big", image: { name: "x" }, envars: [{ key: "K", value: "v".repeat(300 * 1024) }] } };
    const reply = await r.call("definition.save", big);
    assert.equal(reply.code, 413);
    assert.match(reply.body.error.message, /over the registry's limit of 262144 bytes \(REGISTRY_MAX_REQUEST_BYTES\)/);
    assert.equal(await r.eventCount(), before);
  });

  test("service - a 2 MB request is refused by NATS before it leaves the client, nothing written", async () => {
    const before = await r.eventCount();
    const huge = JSON.stringify({ definition: { id: "huge", image: { name: "x".repeat(2 * 1024 * 1024) } } });
    await assert.rejects(r.call("definition.save", huge), /MAX_PAYLOAD_EXCEEDED|max_payload|payload/i);
    assert.equal(await r.eventCount(), before);
  });

  test("service - a subject no endpoint serves (unknown entity) gets no responders, nothing written", async () => {
    const before = await r.eventCount();
    await assert.rejects(r.call("widget.save", { widget: {} }), /no responders|503/i);
    assert.equal(await r.eventCount(), before);
  });
});
