/** Instance metadata (issue 17): stored, returned, filtered over NATS, HTTP and the CLI, picked by the client; bad pairs refused. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { RegistryClient } from "../src/client/index.ts";
import { runCli } from "./harness/cli.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

describe("instance metadata", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry()));
  after(async () => r.stop());

  test("metadata - stored and returned; list matches instances holding every pair; a re-registration replaces it", async () => {
    const v1 = (await r.call("instance.register", { url: "http://127.0.0.1:9001", slug: "meta-svc", metadata: { version: "1", zone: "a" } })).body.instance;
    const v2 = (await r.call("instance.register", { url: "http://127.0.0.1:9002", slug: "meta-svc", metadata: { version: "2", zone: "a", constructor: "x" } })).body.instance;
    await r.call("instance.register", { url: "http://127.0.0.1:9003", slug: "meta-svc" });
    assert.deepEqual(v1.metadata, { version: "1", zone: "a" });
    assert.deepEqual((await r.call("instance.get", { id: v2.id })).body.instance.metadata, { version: "2", zone: "a", constructor: "x" });
    const ids = async (metadata: Record<string, string>) => (await r.call("instance.list", { slug: "meta-svc", metadata })).body.instances.map((i: { id: string }) => i.id);
    assert.deepEqual(await ids({ version: "2" }), [v2.id]);
    assert.deepEqual((await ids({ zone: "a" })).sort(), [v1.id, v2.id].sort());
    assert.deepEqual(await ids({ zone: "a", version: "1" }), [v1.id]);
    assert.deepEqual(await ids({ zone: "b" }), []);
    assert.deepEqual(await ids({ constructor: "x" }), [v2.id], "a key named like an Object member is a key like any other");
    await r.call("instance.register", { url: "http://127.0.0.1:9001", slug: "meta-svc", metadata: { version: "3" } });
    assert.deepEqual((await r.call("instance.get", { id: v1.id })).body.instance.metadata, { version: "3" }, "the registration's metadata replaces the old");
  });

  test("metadata - bad pairs are refused with 400 naming the field; nothing is written", async () => {
    const before = await r.eventCount();
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, n) => [`k${n}`, "v"]));
    const cases: [unknown, RegExp][] = [
      [{ "-leading": "x" }, /\/metadata/],
      [{ "has space": "x" }, /\/metadata/],
      [{ __proto__x: "x" }, /\/metadata/],
      [{ ["k".repeat(64)]: "x" }, /\/metadata/],
      [{ version: 2 }, /\/metadata\/version/],
      [{ version: "x".repeat(257) }, /\/metadata\/version/],
      [many, /\/metadata/],
      [["version=2"], /\/metadata/],
    ];
    for (const [metadata, path] of cases) {
      const reply = await r.call("instance.register", { url: "http://127.0.0.1:9010", slug: "bad-meta", metadata });
      assert.equal(reply.code, 400, JSON.stringify(metadata).slice(0, 80));
      assert.match(JSON.stringify(reply.body.error.details), path, JSON.stringify(reply.body.error));
    }
    const badKey = await r.call("instance.list", { metadata: { "bad key": "1" } });
    assert.deepEqual(badKey.body.error.details, [{ path: "/metadata/bad key", message: "is not a valid metadata key: a letter or digit, then letters, digits, . _ / - (at most 63)" }], "a list filter is checked the same way");
    assert.equal(await r.eventCount(), before);
  });

  test("metadata - over HTTP as metadata[key]=value, and from the CLI as --meta key=value", async () => {
    const base = r.registry.httpUrl!;
    const env = { NATS_URL: r.server.url };
    const reg = await runCli(["i", "register", "--url", "http://127.0.0.1:9101", "--slug", "cli-meta", "--meta", "version=2", "--meta", "weight=10", "--json"], env);
    assert.equal(reg.code, 0, reg.stderr);
    const { instance } = JSON.parse(reg.stdout);
    assert.deepEqual(instance.metadata, { version: "2", weight: "10" });
    await r.call("instance.register", { url: "http://127.0.0.1:9102", slug: "cli-meta", metadata: { version: "1" } });
    const listed = JSON.parse((await runCli(["i", "ls", "--slug", "cli-meta", "--meta", "version=2", "--json"], env)).stdout);
    assert.deepEqual(listed.instances.map((i: { id: string }) => i.id), [instance.id]);
    const bad = await runCli(["i", "ls", "--meta", "version"], env);
    assert.deepEqual([bad.code, bad.stderr], [2, "registry: option '--meta <key=value>' argument 'version' is invalid. It must be key=value, such as version=2.\n"]);
    const http = await (await fetch(`${base}/registry-svc/instances?slug=cli-meta&metadata[version]=2`)).json();
    assert.deepEqual(http.instances.map((i: { id: string }) => i.id), [instance.id]);
    const refused = await fetch(`${base}/registry-svc/instances?metadata[bad%20key]=2`);
    assert.equal(refused.status, 400);
    const mixed = await fetch(`${base}/registry-svc/instances?metadata=x&metadata[version]=2`);
    assert.equal(mixed.status, 400, "a plain metadata= beside its pairs is refused, not an internal error");
  });

  test("metadata - the client's pick() takes only the instances holding the pairs asked for", async () => {
    const client = new RegistryClient(r.nc);
    const old = await client.registerInstance({ url: "http://127.0.0.1:9201", slug: "pick-meta", status: "Healthy", metadata: { version: "1" } });
    const fresh = await client.registerInstance({ url: "http://127.0.0.1:9202", slug: "pick-meta", status: "Healthy", metadata: { version: "2" } });
    const discovery = await client.discover("pick-meta");
    try {
      await until(() => discovery.instances().length === 2, "both instances to be seen");
      for (let n = 0; n < 4; n++) assert.equal(discovery.pick({ metadata: { version: "2" } })?.id, fresh.id);
      assert.deepEqual(new Set([discovery.pick()?.id, discovery.pick()?.id]), new Set([old.id, fresh.id]), "without a filter, round robin over both");
      assert.equal(discovery.pick({ metadata: { version: "3" } }), undefined);
    } finally {
      discovery.stop();
    }
  });
});
