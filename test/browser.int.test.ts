/**
 * Issue 22 point 12: web pages against a registry on loopback. Each attack is sent over real
 * HTTP as a browser sends it (forged Host, Origin and content type with node:http): a form
 * posting text/plain JSON, a no-cors POST, a text/plain PUT, and DNS rebinding (a page whose own
 * name resolves to 127.0.0.1). Each is refused and writes nothing; the registry's own page, and
 * programs, still work; no page may frame it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { ConfigError, configFromEnv } from "../src/config.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

type Sent = { host?: string; origin?: string; contentType?: string; body?: string; fetchSite?: string; fetchMode?: string };
type Answer = { status: number; headers: Record<string, string | string[] | undefined>; body: any };

describe("web pages cannot reach a registry on loopback (issue 22 point 12)", () => {
  let r: TestRegistry;
  let port: number;
  let self: string;

  /** A request exactly as given: the Host, Origin and Content-Type headers a browser (or an attacker) would send. */
  const send = (method: string, path: string, sent: Sent = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const headers: Record<string, string> = { host: sent.host ?? self };
      if (sent.origin !== undefined) headers.origin = sent.origin;
      if (sent.contentType !== undefined) headers["content-type"] = sent.contentType;
      if (sent.fetchSite !== undefined) headers["sec-fetch-site"] = sent.fetchSite;
      if (sent.fetchMode !== undefined) headers["sec-fetch-mode"] = sent.fetchMode;
      headers["content-length"] = String(Buffer.byteLength(sent.body ?? ""));
      const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text.startsWith("{") ? JSON.parse(text) : text }));
      });
      req.on("error", reject);
      req.end(sent.body);
    });
  const instance = async (id: string) => (await r.call("instance.get", { id })).body.instance;

  before(async () => {
    r = await startTestRegistry();
    port = Number(new URL(r.registry.httpUrl!).port);
    self = `127.0.0.1:${port}`;
  });
  after(() => r.stop());

  test("a form on another site posting text/plain JSON to /checked is refused, and the instance stays as it was", async () => {
    const { id } = (await r.call("instance.register", { url: "http://127.0.0.1:31001", slug: "order-svc" })).body.instance;
    const before = await instance(id);
    const events = await r.eventCount();
    // <form enctype="text/plain" method="post"><input name='{"outcome":"unreachable","checkedBy":"evil.example","detail":"' value='x"}'>
    const formBody = '{"outcome":"unreachable","checkedBy":"evil.example","detail":"=x"}';
    const path = `/registry-svc/instance/${id}/checked`;
    const asBrowsersSendIt = await send("POST", path, { origin: "https://evil.example", contentType: "text/plain", body: formBody });
    assert.equal(asBrowsersSendIt.status, 403);
    assert.match(asBrowsersSendIt.body.error.message, /requests from the web page at "https:\/\/evil\.example" are refused/);
    const originStripped = await send("POST", path, { contentType: "text/plain", body: formBody });
    assert.equal(originStripped.status, 415);
    assert.match(originStripped.body.error.message, /POST needs Content-Type: application\/json \(this request is text\/plain\)/);
    const urlEncoded = await send("POST", path, { contentType: "application/x-www-form-urlencoded", body: formBody });
    assert.equal(urlEncoded.status, 415);
    assert.equal(await r.eventCount(), events, "nothing was written");
    assert.deepEqual(await instance(id), before);
    assert.notEqual(before.status, "Unreachable");
  });

  test("a no-cors POST to /renew is refused, with or without Origin, and the lease is untouched", async () => {
    const { id } = (await r.call("instance.register", { url: "http://127.0.0.1:31002", slug: "lease-svc", ttlSeconds: 30 })).body.instance;
    const before = await instance(id);
    const events = await r.eventCount();
    const path = `/registry-svc/instance/${id}/renew`;
    assert.equal((await send("POST", path, { origin: "https://evil.example" })).status, 403);
    const bare = await send("POST", path);
    assert.equal(bare.status, 415);
    assert.match(bare.body.error.message, /this request names none\); send that header even without a body/);
    assert.equal((await send("POST", path, { origin: "null" })).status, 403, "a sandboxed page's opaque origin");
    assert.equal(await r.eventCount(), events);
    assert.deepEqual(await instance(id), before);
    // A program renews as before: JSON, no Origin.
    assert.equal((await send("POST", path, { contentType: "application/json" })).status, 200);
  });

  test("another site's page cannot make the registry work with a simple GET (an image: no Origin, Sec-Fetch-Site cross-site)", async () => {
    const img = await send("GET", "/registry-svc/instances?asOf=1", { fetchSite: "cross-site", fetchMode: "no-cors" });
    assert.equal(img.status, 403);
    assert.match(img.body.error.message, /web page of another site \(Sec-Fetch-Site: cross-site\) are refused/);
    assert.equal((await send("GET", "/registry-svc/watch", { fetchSite: "same-site", fetchMode: "cors" })).status, 403);
    // Following a link to the dashboard from elsewhere still opens it; its own requests are same-origin.
    assert.equal((await send("GET", "/", { fetchSite: "cross-site", fetchMode: "navigate" })).status, 200);
    assert.equal((await send("GET", "/registry-svc/instances", { fetchSite: "same-origin", fetchMode: "cors" })).status, 200);
  });

  test("a text/plain PUT registers nothing", async () => {
    const events = await r.eventCount();
    const body = JSON.stringify({ url: "http://127.0.0.1:31003", slug: "squat-svc" });
    assert.equal((await send("PUT", "/registry-svc/instance", { contentType: "text/plain", body })).status, 415);
    assert.equal((await send("PUT", "/registry-svc/instance", { contentType: "text/plain;charset=UTF-8", origin: "http://evil.example", body })).status, 403);
    assert.equal((await send("PUT", "/registry-svc/instance", { body })).status, 415, "no content type at all");
    assert.equal(await r.eventCount(), events);
    assert.deepEqual((await r.call("instance.list", { slug: "squat-svc" })).body.instances, []);
  });

  test("DNS rebinding: a request naming another host is refused with 421, reads included, and writes nothing", async () => {
    const events = await r.eventCount();
    const rebound = { host: `evil.example:${port}`, origin: `http://evil.example:${port}` }; // same-origin as far as the browser knows
    const put = await send("PUT", "/registry-svc/instance", { ...rebound, contentType: "application/json", body: JSON.stringify({ url: "http://127.0.0.1:31004", slug: "rebound-svc" }) });
    assert.equal(put.status, 421);
    assert.match(put.body.error.message, /does not serve the host "evil\.example:\d+"; it answers localhost, 127\.0\.0\.1, \[::1\] \(REGISTRY_HTTP_HOSTS\)/);
    for (const path of ["/registry-svc/instances", "/", "/metrics", "/registry-svc/watch"]) {
      assert.equal((await send("GET", path, rebound)).status, 421, `GET ${path}`);
    }
    assert.equal((await send("GET", "/registry-svc/instances", { host: "127.0.0.1.evil.example" })).status, 421);
    assert.equal((await send("GET", "/registry-svc/instances", { host: "127.0.0.1/x" })).status, 421);
    assert.equal(await r.eventCount(), events);
    assert.deepEqual((await r.call("instance.list", { slug: "rebound-svc" })).body.instances, []);
  });

  test("the registry's own page and programs on its loopback names still work", async () => {
    for (const host of [self, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, "127.0.0.1"]) {
      assert.equal((await send("GET", "/registry-svc/instances", { host })).status, 200, host);
    }
    // The dashboard's own fetches: same origin, JSON.
    const own = await send("PUT", "/registry-svc/instance", { origin: `http://${self}`, contentType: "application/json; charset=utf-8", body: JSON.stringify({ url: "http://127.0.0.1:31005" }) });
    assert.equal(own.status, 200);
    assert.equal((await send("GET", "/registry-svc/instances", { origin: `http://${self}` })).status, 200);
    // A read-only POST without a body, as the seed's `curl -X POST /registry-svc/nodes` sends it.
    assert.equal((await send("POST", "/registry-svc/nodes")).status, 200);
  });

  test("no response may be framed: frame-ancestors 'none' and X-Frame-Options DENY on every one", async () => {
    const answers = await Promise.all([
      send("GET", "/"),
      send("GET", "/healthz"),
      send("GET", "/registry-svc/instances"),
      send("GET", "/nowhere"),
      send("PUT", "/registry-svc/instance", { contentType: "text/plain", body: "{}" }),
      send("GET", "/", { host: "evil.example" }),
    ]);
    for (const a of answers) {
      assert.equal(a.headers["x-frame-options"], "DENY", `status ${a.status}`);
      assert.match(String(a.headers["content-security-policy"]), /frame-ancestors 'none'/);
      assert.equal(a.headers["x-content-type-options"], "nosniff");
    }
    // The watch stream is written by hand (hijacked): it carries them too.
    const watch = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/registry-svc/watch" }, (res) => {
        resolve(res.headers);
        res.destroy();
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(watch["x-frame-options"], "DENY");
  });
});

test("REGISTRY_HTTP_HOSTS adds the names the face answers to loopback and the listen host; * answers every name; a bad name is refused", () => {
  const hosts = configFromEnv({ REGISTRY_HTTP_ADDR: "10.0.0.5:11337", REGISTRY_HTTP_HOSTS: "registry.internal, FD00::5" }).httpHosts;
  assert.deepEqual(hosts, ["localhost", "127.0.0.1", "[::1]", "10.0.0.5", "registry.internal", "[fd00::5]"]);
  assert.deepEqual(configFromEnv({ REGISTRY_HTTP_ADDR: "0.0.0.0:11337" }).httpHosts, ["localhost", "127.0.0.1", "[::1]"]);
  assert.equal(configFromEnv({ REGISTRY_HTTP_HOSTS: "*" }).httpHosts, "any");
  assert.throws(() => configFromEnv({ REGISTRY_HTTP_HOSTS: "evil.example/x" }), (err: Error) => err instanceof ConfigError && /REGISTRY_HTTP_HOSTS: "evil\.example\/x" is not a host name/.test(err.message));
});
