import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

describe("instances", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry()));
  after(async () => r.stop());

  const register = async (body: unknown) => {
    const reply = await r.call("instance.register", body);
    assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    return reply.body.instance;
  };

  test("instance - register from url keeps the url and reads scheme, host and port from it", async () => {
    const i = await register({ url: "http://localhost:8080", slug: "user-svc" });
    assert.match(i.id, /^inst_[0-9a-f]{20}$/);
    assert.equal(i.url, "http://localhost:8080");
    assert.equal(i.scheme, "http");
    assert.equal(i.host, "localhost");
    assert.equal(i.port, 8080);
    assert.equal(i.slug, "user-svc");
    assert.equal(i.status, "Unknown");
    assert.deepEqual(i.tags, []);
    assert.equal(i.createdAt, i.updatedAt);
    assert.ok(!Number.isNaN(Date.parse(i.createdAt)) && i.createdAt.endsWith("Z"), "RFC 3339 UTC");
    assert.deepEqual((await r.call("instance.get", { id: i.id })).body, { instance: i });
  });

  test("instance - register from scheme, host, port and path builds the url", async () => {
    const i = await register({ scheme: "https", host: "localhost", port: 8443, path: "/v1" });
    assert.equal(i.url, "https://localhost:8443/v1");
    assert.equal(i.port, 8443);
    assert.equal(i.path, "/v1");
  });

  test("instance - register by ip, IPv4 and IPv6, defaults the scheme to http", async () => {
    assert.equal((await register({ ip: "127.0.0.7", port: 8080 })).url, "http://127.0.0.7:8080");
    const v6 = await register({ ip: "::1", port: 8081 });
    assert.equal(v6.url, "http://[::1]:8081");
    assert.equal(v6.ip, "::1");
  });

  test("instance - register same url updates, no twin", async () => {
    const first = await register({ url: "http://127.0.0.2:9000", slug: "twin-svc", tags: ["blue"] });
    const second = await register({ url: "http://127.0.0.2:9000/", slug: "twin-svc", tags: ["green"], deploymentId: "depl_1" });
    assert.equal(second.id, first.id);
    assert.deepEqual(second.tags, ["green"]);
    assert.equal(second.deploymentId, "depl_1");
    assert.equal(second.createdAt, first.createdAt);
    const listed = (await r.call("instance.list", { slug: "twin-svc" })).body.instances;
    assert.equal(listed.length, 1);
    assert.deepEqual(listed[0].tags, ["green"]);
  });

  test("instance - re-registering with nothing changed writes no event", async () => {
    const body = { url: "http://127.0.0.3:9000", slug: "steady-svc", tags: ["a"] };
    const first = await register(body);
    const before = await r.eventCount();
    const again = await register(body);
    assert.deepEqual(again, first);
    assert.equal(await r.eventCount(), before);
  });

  test("instance - a given id is kept, and its url can change", async () => {
    const i = await register({ id: "inst_custom_123", url: "http://localhost:7001", deploymentId: "depl_abc123" });
    assert.equal(i.id, "inst_custom_123");
    const moved = await register({ id: "inst_custom_123", url: "http://localhost:7002" });
    assert.equal(moved.url, "http://localhost:7002");
    assert.equal(moved.port, 7002);
    assert.equal(moved.deploymentId, "depl_abc123", "fields not given are kept");
    const byOldUrl = await register({ url: "http://localhost:7001" });
    assert.notEqual(byOldUrl.id, "inst_custom_123", "the old url is free again");
  });

  test("instance - a given id whose url another instance holds is refused with 409", async () => {
    const holder = await register({ url: "http://localhost:7101" });
    const before = await r.eventCount();
    const reply = await r.call("instance.register", { id: "inst_other", url: "http://localhost:7101" });
    assert.equal(reply.code, 409);
    assert.match(reply.body.error.message, new RegExp(`already registered as instance "${holder.id}"`));
    assert.equal(await r.eventCount(), before);
  });

  test("instance - a slug change moves the KV key and wakes only that slug's watchers", async () => {
    const kv = await new Kvm(r.nc).open("registry_instances");
    const i = await register({ url: "http://localhost:7201" });
    assert.ok(await kv.get(`_.${i.id}`).then((e) => e?.operation === "PUT"), "no slug: key _.<id>");
    await register({ url: "http://localhost:7201", slug: "mover-svc" });
    assert.equal((await kv.get(`_.${i.id}`))?.operation, "DEL");
    assert.equal((await kv.get(`mover-svc.${i.id}`))?.json<{ slug: string }>().slug, "mover-svc");
    const keys: string[] = [];
    for await (const k of await kv.keys("mover-svc.>")) keys.push(k);
    assert.deepEqual(keys, [`mover-svc.${i.id}`]);
  });

  test("instance - every list filter, AND-ed", async () => {
    await register({ id: "f1", url: "http://127.0.0.10:8000/a", slug: "filter-svc", deploymentId: "d1", nodeUrl: "http://127.0.0.1:11337", tags: ["x", "y"], status: "Healthy" });
    await register({ id: "f2", url: "https://localhost:8001/b", slug: "filter-svc", deploymentId: "d2", nodeUrl: "http://127.0.0.1:11338", tags: ["x"], status: "Unhealthy" });
    await register({ id: "f3", url: "http://127.0.0.11:8002/a", slug: "filter-other", deploymentId: "d1", tags: ["y"] });
    const ids = async (filter: unknown) => (await r.call("instance.list", filter)).body.instances.map((i: { id: string }) => i.id).sort();
    assert.deepEqual(await ids({ id: "f2" }), ["f2"]);
    assert.deepEqual(await ids({ slug: "filter-svc" }), ["f1", "f2"]);
    assert.deepEqual(await ids({ host: "localhost", slug: "filter-svc" }), ["f2"]);
    assert.deepEqual(await ids({ ip: "127.0.0.10" }), ["f1"]);
    assert.deepEqual(await ids({ scheme: "https", slug: "filter-svc" }), ["f2"]);
    assert.deepEqual(await ids({ path: "/a" }), ["f1", "f3"]);
    assert.deepEqual(await ids({ deploymentId: "d1" }), ["f1", "f3"]);
    assert.deepEqual(await ids({ nodeUrl: "http://127.0.0.1:11338" }), ["f2"]);
    assert.deepEqual(await ids({ status: "Healthy" }), ["f1"]);
    assert.deepEqual(await ids({ tags: ["x"] }), ["f1", "f2"]);
    assert.deepEqual(await ids({ tags: ["x", "y"] }), ["f1"]);
    assert.deepEqual(await ids({ tags: ["y"], deploymentId: "d1", slug: "filter-other" }), ["f3"]);
    assert.deepEqual(await ids({ slug: "no-such-svc" }), []);
    assert.deepEqual(await ids({ id: "f1", slug: "filter-other" }), []);
    const all = (await r.call("instance.list", {})).body.instances;
    assert.ok(all.length >= 3);
  });

  test("instance - lists come in id order and page with limit and after", async () => {
    const ids: string[] = [];
    for (let n = 0; n < 25; n++) ids.push((await register({ id: `page-${String(n).padStart(2, "0")}`, url: `http://127.0.0.1:${10100 + n}`, slug: "page-svc" })).id);
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = (await r.call("instance.list", { slug: "page-svc", limit: 10, ...(after ? { after } : {}) })).body;
      pages.push(page.instances.map((i: { id: string }) => i.id));
      if (!page.next) break;
      assert.equal(page.next, pages.at(-1)!.at(-1));
      after = page.next;
    }
    assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
    assert.deepEqual(pages.flat(), ids, "every instance once, in id order");
    const unfiltered = (await r.call("instance.list", { limit: 3, after: "page-21" })).body;
    assert.deepEqual(unfiltered.instances.map((i: { id: string }) => i.id), ["page-22", "page-23", "page-24"]);
    const all = (await r.call("instance.list", {})).body.instances.map((i: { id: string }) => i.id);
    assert.deepEqual(all, [...all].sort(), "an unfiltered list is in id order too");
    assert.equal((await r.call("instance.list", { limit: 0 })).code, 400);
  });

  test("instance - remove, then get and remove answer 404 and write nothing", async () => {
    const i = await register({ url: "http://localhost:7301", slug: "doomed-svc" });
    assert.deepEqual((await r.call("instance.remove", { id: i.id })).body, {});
    assert.equal((await r.call("instance.get", { id: i.id })).code, 404);
    assert.deepEqual((await r.call("instance.list", { slug: "doomed-svc" })).body, { instances: [] });
    const before = await r.eventCount();
    const again = await r.call("instance.remove", { id: i.id });
    assert.equal(again.code, 404);
    assert.match(again.body.error.message, /not found/);
    assert.equal(await r.eventCount(), before);
  });

  test("instance - a retried request with the same Nats-Msg-Id writes once", async () => {
    const body = { url: "http://localhost:7401", slug: "retry-svc" };
    const before = await r.eventCount();
    const first = await r.call("instance.register", body, { msgId: "req-1" });
    const retry = await r.call("instance.register", body, { msgId: "req-1" });
    assert.deepEqual(retry.body, first.body);
    assert.equal(retry.body.outcome, "registered", "a retry answers what its first try did, not what the retry decided");
    assert.equal(await r.eventCount(), before + 1);
    const moved = await r.call("instance.register", { ...body, slug: "retry-svc-2" }, { msgId: "req-3" });
    const movedAgain = await r.call("instance.register", { ...body, slug: "retry-svc-2" }, { msgId: "req-3" });
    assert.deepEqual(movedAgain.body, moved.body);
    assert.deepEqual([moved.body.outcome, moved.body.changed, moved.body.movedFrom], ["updated", ["slug"], { slug: "retry-svc" }]);
    assert.equal(await r.eventCount(), before + 2);
    const removed = await r.call("instance.remove", { id: first.body.instance.id }, { msgId: "req-2" });
    const removedAgain = await r.call("instance.remove", { id: first.body.instance.id }, { msgId: "req-2" });
    assert.deepEqual(removed.body, {});
    assert.deepEqual(removedAgain.body, {}, "the retry of a remove that succeeded succeeds");
    assert.equal(await r.eventCount(), before + 3);
  });

  const invalid: [string, unknown, RegExp][] = [
    ["no url, host or ip", { slug: "x" }, /give a url, or a host or ip/],
    ["a url that is not a URL", { url: "not-a-url" }, /is not an absolute URL/],
    ["a url whose port is out of range", { url: "http://127.0.0.1:99999" }, /\/url "http:\/\/127\.0\.0\.1:99999" has port 99999, outside 1 to 65535/],
    ["a url with spaces", { url: "http://a b/" }, /\/url must be printable ASCII without spaces/],
    ["a 200 KiB url", { url: `http://a/${"x".repeat(200 * 1024)}` }, /\/url must not have more than 2048 characters/],
    ["a javascript: url", { url: "javascript:alert(1)" }, /has scheme javascript, which is not one of http, https/],
    ["a file: url", { url: "file:///etc/passwd" }, /has scheme file, which is not one of .*; has no host/],
    ["a NUL in the url", { url: "http://127.0.0.1:1/a\u0000b" }, /\/url must be printable ASCII/],
    ["a tab in the url", { url: "http://127.0.0.1:1/a\tb" }, /\/url must be printable ASCII/],
    ["a newline in the url", { url: "http://127.0.0.1:1/a\nb" }, /\/url must be printable ASCII/],
    ["credentials in the url", { url: "http://admin:secret@127.0.0.1:1/" }, /carries a user or password/],
    ["a javascript: scheme from parts", { scheme: "javascript", host: "x" }, /\/scheme .* has scheme javascript/],
    ["a nodeUrl that is not http", { url: "http://127.0.0.1:1", nodeUrl: "ftp://node" }, /\/nodeUrl .* has scheme ftp/],
    ["an ip that is not an address", { ip: "example.com", port: 80 }, /\/ip must be an IPv4 or IPv6 address/],
    ["1,000 tags", { url: "http://127.0.0.1:1", tags: Array.from({ length: 1000 }, (_, n) => `t${n}`) }, /\/tags must not have more than 64 items/],
    ["a 200-character tag", { url: "http://127.0.0.1:1", tags: ["t".repeat(200)] }, /\/tags\/0 must not have more than 128 characters/],
    ["250 KiB of details", { url: "http://127.0.0.1:1", details: "d".repeat(250 * 1024) }, /\/details must not have more than 4096 characters/],
    ["a ttl of 1e308", { url: "http://127.0.0.1:1", ttlSeconds: 1e308 }, /\/ttlSeconds must be <= 86400/],
    ["a grace of a year", { url: "http://127.0.0.1:1", ttlSeconds: 10, graceSeconds: 31_536_000 }, /\/graceSeconds must be <= 604800/],
    ["a check interval of a day", { url: "http://127.0.0.1:1", check: { type: "http", intervalMs: 86_400_000 } }, /\/check\/intervalMs must be <= 3600000/],
    ["a check path that is a URL", { url: "http://127.0.0.1:1", check: { type: "http", path: "http://127.0.0.1:2/admin" } }, /\/check\/path must be a path on the instance's own origin/],
    ["a check path to another host", { url: "http://127.0.0.1:1", check: { type: "http", path: "//evil.example/x" } }, /\/check\/path must be a path on the instance's own origin/],
    ["a check path with a backslash", { url: "http://127.0.0.1:1", check: { type: "http", path: "/\\evil.example" } }, /\/check\/path must be a path/],
    ["a port that disagrees with the url", { url: "http://localhost:8080", port: 9090 }, /\/port 9090 does not match/],
    ["a host beside a url whose host is an IP address", { url: "http://127.0.0.1:9003", host: "10.0.0.1" }, /\/host "10\.0\.0\.1" does not match the url, whose host is the IP address 127\.0\.0\.1 \(give it as ip, or leave host out\)/],
    ["an IPv4 address written short", { url: "http://127.1:9000" }, /\/url "http:\/\/127\.1:9000" writes the IPv4 address 127\.0\.0\.1 another way; write it as 127\.0\.0\.1/],
    ["an IPv4 address written as a number", { url: "tcp://2130706433:9001" }, /writes the IPv4 address 127\.0\.0\.1 another way/],
    ["an IPv4 address written in hex", { url: "http://0x7f.1:9001" }, /writes the IPv4 address 127\.0\.0\.1 another way/],
    ["an IPv4 address written in octal", { url: "http://0177.0.0.1:9001" }, /writes the IPv4 address 127\.0\.0\.1 another way/],
    ["an IPv4 address percent-encoded", { url: "http://%31%32%37.0.0.1:9001" }, /writes the IPv4 address 127\.0\.0\.1 another way/],
    ["a short IPv4 address from parts", { ip: "127.1", port: 9001 }, /writes the IPv4 address 127\.0\.0\.1 another way/],
    ["a port out of range", { host: "localhost", port: 70000 }, /\/port must be <= 65535/],
    ["an unknown status", { url: "http://localhost:1", status: "Fine" }, /\/status must be one of Unknown, Starting, Healthy/],
    ["tags that are not a list", { url: "http://localhost:1", tags: "a" }, /\/tags must be array/],
    ["an unknown field", { url: "http://localhost:1", hostname: "x" }, /\/hostname is not a known field/],
    ["an id with >", { id: "inst>", url: "http://localhost:1" }, /\/id must be 1 to 128 characters/],
    ["a slug with a dot", { url: "http://localhost:1", slug: "a.b" }, /\/slug must be 1 to 128 characters/],
    ["the reserved slug _", { url: "http://localhost:1", slug: "_" }, /\/slug must be .* not _ alone/],
  ];
  for (const [what, body, message] of invalid) {
    test(`instance - ${what} is refused with 400, nothing written`, async () => {
      const before = await r.eventCount();
      const reply = await r.call("instance.register", body);
      assert.equal(reply.code, 400);
      assert.match(reply.body.error.message, message);
      assert.ok(reply.body.error.details.length > 0);
      assert.equal(await r.eventCount(), before);
    });
  }

  test("instance - get of an id the key rule cannot carry is 400, of an unknown one 404", async () => {
    assert.equal((await r.call("instance.get", { id: "a.b" })).code, 400);
    assert.equal((await r.call("instance.get", { id: "nope" })).code, 404);
  });
});
