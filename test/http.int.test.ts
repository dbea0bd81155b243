/**
 * The HTTP face: seed 002's `oo` lines and curl | jq scripts against a real registry's HTTP
 * port, the same answers as NATS, and JSON errors that write nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Validator } from "@seriousme/openapi-schema-validator";
import { jetstream } from "@nats-io/jetstream";
import { publishedSchemas } from "../src/contract/published.ts";
import { namesFor } from "../src/contract/names.ts";
import { tokenHash } from "../src/access/policy.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { gpu, heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { until } from "./harness/until.ts";

const sh = promisify(execFile);

/** A client of GET /registry-svc/watch: the server-sent events, parsed, as they come. */
async function watchFeed(url: string, token?: string) {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const events: { event: string; data: any }[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })().catch(() => undefined);
  return {
    status: res.status,
    events,
    /** Waits until an event matches, with a deadline. */
    next: (what: string, match: (e: { event: string; data: any }) => boolean) => until(() => events.some(match), what, 5000).then(() => events.find(match)!),
    async close() {
      abort.abort();
      await reading;
    },
  };
}

describe("HTTP face: seed 002's /registry-svc API", () => {
  let r: TestRegistry;
  let base: string;
  /** `oo <method> <path>` with a JSON body, as the seed writes it. */
  const oo = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, { method: method.toUpperCase(), ...(method !== "get" ? { headers: { "content-type": "application/json" } } : {}), ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) };
  };
  /** A seed pipeline, `curl ... | jq ...`, run by bash with the registry's address in $REGISTRY. */
  const pipeline = async (script: string) => (await sh("bash", ["-c", script], { env: { ...process.env, REGISTRY: base, TOKEN: "t" } })).stdout;

  before(async () => {
    r = await startTestRegistry();
    base = r.registry.httpUrl!;
  });
  after(() => r.stop());

  test("oo put /registry-svc/instance in each of the seed's forms registers the instance", async () => {
    const forms = [
      { url: "http://user-service:8080", slug: "user-svc" },
      { url: "http://user-service:8080" },
      { id: "inst_custom_123", url: "http://api-service:8080", deploymentId: "depl_abc123" },
      { scheme: "https", host: "api.example.com", port: 443, path: "/v1" },
      { scheme: "http", ip: "192.168.1.100", port: 8080 },
    ];
    for (const form of forms) {
      const { status, body } = await oo("put", "/registry-svc/instance", form);
      assert.equal(status, 200, JSON.stringify(body));
      assert.ok(body.instance.id);
    }
    assert.equal((await oo("get", "/registry-svc/instance/inst_custom_123")).body.instance.deploymentId, "depl_abc123");
  });

  test("oo get /registry-svc/instances with the seed's filters answers as instance.list does over NATS", async () => {
    await oo("put", "/registry-svc/instance", { url: "http://api-server-1:9000", slug: "api", nodeUrl: "http://node1.cluster.local:11337", tags: ["blue", "v2"] });
    for (const [query, filter] of [
      ["slug=user-svc", { slug: "user-svc" }],
      ["host=api-server-1", { host: "api-server-1" }],
      ["deploymentId=depl_abc123", { deploymentId: "depl_abc123" }],
      [`nodeUrl=${encodeURIComponent("http://node1.cluster.local:11337")}`, { nodeUrl: "http://node1.cluster.local:11337" }],
      ["tags=blue,v2&limit=5", { tags: ["blue", "v2"], limit: 5 }],
      ["tags=blue&tags=v2&scheme=http", { tags: ["blue", "v2"], scheme: "http" }],
      ["", {}],
    ] as const) {
      const http = await oo("get", `/registry-svc/instances${query ? `?${query}` : ""}`);
      const nats = await r.call("instance.list", filter);
      assert.equal(http.status, 200);
      assert.deepEqual(http.body, nats.body, query);
      if (query) assert.ok(http.body.instances.length > 0, `${query} finds something`);
    }
  });

  test("the seed's curl | jq scripts run unchanged on the answers", async () => {
    const userSvc = (await oo("get", "/registry-svc/instances?slug=user-svc")).body.instances[0].id as string;
    assert.equal((await oo("put", `/registry-svc/instance/${userSvc}/status`, { status: "Healthy" })).status, 200);
    const healthy = await pipeline(`curl -s -H "Authorization: Bearer $TOKEN" "$REGISTRY/registry-svc/instances" | jq '.instances[] | select(.status == "Healthy")'`);
    assert.match(healthy, /"url": "http:\/\/user-service:8080"/);
    const lines = await pipeline(`curl -s "$REGISTRY/registry-svc/instances" | jq -r '.instances[] | "\\(.slug // "N/A") \\(.url) \\(.status)"'`);
    assert.match(lines, /^user-svc http:\/\/user-service:8080 Healthy$/m);
    assert.match(lines, /^N\/A https:\/\/api\.example\.com(:443)?\/v1 Unknown$/m);
    const dead = await pipeline(`dead_node_url=http://node1.cluster.local:11337; curl -s "$REGISTRY/registry-svc/instances" | jq -r ".instances[] | select(.nodeUrl == \\"$dead_node_url\\") | .id"`);
    assert.equal(dead.trim().split("\n").length, 1);
  });

  test("definitions: oo put /registry-svc/definition, oo get /registry-svc/definitions, DELETE /registry-svc/definition/{id}", async () => {
    const saved = await oo("put", "/registry-svc/definition", { definition: { id: "my-svc", image: { name: "nginx:latest", internalPorts: [80] } } });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    assert.deepEqual((await oo("get", "/registry-svc/definitions")).body, (await r.call("definition.list", {})).body);
    assert.equal((await oo("get", "/registry-svc/definitions")).body.definitions[0].id, "my-svc");
    assert.equal((await oo("delete", "/registry-svc/definition/my-svc")).status, 200);
    assert.equal((await oo("get", "/registry-svc/definition/my-svc")).status, 404);
  });

  test("nodes: oo post /registry-svc/nodes and oo get /registry-svc/node/self through the seed's jq, and DELETE /registry-svc/node/{url} percent-encoded", async () => {
    publishHeartbeat(r.nc, heartbeat("gpu-node", { gpus: [gpu(0, 2000, 30), gpu(1, 8000, 90)] }));
    await until(async () => (await oo("post", "/registry-svc/nodes")).body.nodes.some((n: { id: string }) => n.id === "gpu-node"), "the GPU node to be listed");
    const usage = await pipeline(`curl -s -X POST "$REGISTRY/registry-svc/nodes" | jq -r '.nodes[] | "\\(.id) CPU:\\(.usage.cpu.percent)% MEM:\\(.usage.memory.percent)% DISK:\\(.usage.disk.percent)% GPUs:\\(.gpus | length)"'`);
    assert.match(usage, /^gpu-node CPU:50% MEM:50% DISK:50% GPUs:2$/m);
    const free = await pipeline(`curl -s -X POST "$REGISTRY/registry-svc/nodes" | jq -r '.nodes[] | select(.gpus | length > 0) | .gpus[] | select(.gpuUtilization < 50) | "\\(.name) (\\(.memoryUsage)MB/\\(.memoryTotal)MB used)"'`);
    assert.equal(free.trim(), "Test GPU (2000MB/16384MB used)");
    // get_node_resources, as the seed writes it, once the registry's own first heartbeat is in
    // (node/self is a 503 "has not joined yet" before that)
    await until(async () => (await oo("get", "/registry-svc/node/self")).status === 200, "the registry's node to join");
    const self = JSON.parse(
      await pipeline(`curl -s "$REGISTRY/registry-svc/node/self" | jq '{
id: .node.id,
url: .node.url,
region: .node.region,
availabilityZone: .node.availabilityZone,
cpu: .node.usage.cpu,
memory: .node.usage.memory,
disk: .node.usage.disk,
gpus: .node.gpus | length
}'`),
    );
    assert.equal(self.id, "self-node");
    assert.ok(self.memory.total > 0 && self.disk.total > 0);
    // the seed's "nodes with GPU capabilities"
    const gpuNodes = JSON.parse(
      `[${(
        await pipeline(`curl -s -X POST "$REGISTRY/registry-svc/nodes" | jq -c '.nodes[] | select(.gpus | length > 0) | {
id: .id,
url: .url,
gpuCount: (.gpus | length),
gpus: [.gpus[] | {name: .name, memory: .memoryTotal, utilization: .gpuUtilization}]
}'`)
      )
        .trim()
        .split("\n")
        .join(",")}]`,
    );
    assert.deepEqual(gpuNodes.map((n: { id: string; gpuCount: number }) => [n.id, n.gpuCount]), [["gpu-node", 2]]);
    assert.deepEqual((await oo("post", "/registry-svc/nodes", { ids: ["gpu-node"] })).body.nodes.map((n: { id: string }) => n.id), ["gpu-node"]);
    const url = (await oo("get", "/registry-svc/node/gpu-node")).body.node.url as string;
    assert.equal((await oo("delete", `/registry-svc/node/${encodeURIComponent(url)}`)).status, 200);
    assert.equal((await oo("get", "/registry-svc/node/gpu-node")).status, 404);
  });

  test("the rest of the API in the same style: status, renew, history, health, DELETE an instance", async () => {
    const id = (await oo("put", "/registry-svc/instance", { url: "http://127.0.0.1:25001", slug: "styled", ttlSeconds: 30 })).body.instance.id as string;
    assert.equal((await oo("put", `/registry-svc/instance/${id}/status`, { status: "Starting" })).body.instance.status, "Starting");
    assert.equal((await oo("post", `/registry-svc/instance/${id}/renew`)).status, 200);
    const history = await oo("get", `/registry-svc/history?entity=instance&id=${id}`);
    assert.deepEqual(history.body.events.map((e: { type: string }) => e.type), ["InstanceRegistered", "InstanceStatusChanged"]);
    assert.equal((await oo("get", "/registry-svc/health")).status, 200);
    assert.equal((await oo("delete", `/registry-svc/instance/${id}`)).status, 200);
    assert.equal((await oo("get", `/registry-svc/instance/${id}`)).status, 404);
  });

  test("bad JSON, a body that is not an object, unknown fields and unknown paths get JSON errors, and nothing is written", async () => {
    const events = await r.eventCount();
    const send = async (method: string, path: string, body: string) => {
      const res = await fetch(`${base}${path}`, { method, body, headers: { "content-type": "application/json" } });
      return { status: res.status, body: (await res.json()) };
    };
    const notJson = await send("PUT", "/registry-svc/instance", "{url:");
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error.message, /request body is not JSON/);
    assert.equal((await send("PUT", "/registry-svc/instance", "[1]")).body.error.message, "request body must be a JSON object; send {} when nothing is needed");
    const unknown = await oo("put", "/registry-svc/instance", { url: "http://127.0.0.1:25002", colour: "red" });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.error.details, [{ path: "/colour", message: "is not a known field" }]);
    const badQuery = await oo("get", "/registry-svc/instances?limit=lots");
    assert.equal(badQuery.status, 400);
    assert.equal(badQuery.body.error.details[0].path, "/limit");
    const proto = await oo("get", "/registry-svc/instances?__proto__=x");
    assert.deepEqual([proto.status, proto.body.error.details], [400, [{ path: "/__proto__", message: "is not a known field" }]]);
    const missing = await oo("get", "/registry-svc/nothing-here");
    assert.equal(missing.status, 404);
    assert.match(missing.body.error.message, /no route GET \/registry-svc\/nothing-here/);
    const none = await oo("get", "/registry-svc/instance/inst_none");
    assert.deepEqual(none.body.error, { code: 404, message: 'instance "inst_none" not found (it was removed, or its lease expired); list them with GET /registry-svc/instances' }, "the hint names the route");
    const overNats = await r.call("instance.get", { id: "inst_none" });
    assert.deepEqual(overNats.body.error, { code: 404, message: 'instance "inst_none" not found (it was removed, or its lease expired); list them with registry.instance.list', hint: { text: "list them", operation: "instance.list" } });
    const huge = await send("PUT", "/registry-svc/instance", JSON.stringify({ url: "http://127.0.0.1:25003", details: "x".repeat(300_000) }));
    assert.deepEqual(huge.body.error, { code: 413, message: "request body is over the registry's limit of 262144 bytes (REGISTRY_MAX_REQUEST_BYTES)" }, "the same 413 as over NATS");
    assert.equal(await r.eventCount(), events, "nothing was written");
  });

  test("GET /registry-svc/openapi.json is a valid OpenAPI 3.1 document of every route, its schemas those of schemas/", async () => {
    const { status, body: doc } = await oo("get", "/registry-svc/openapi.json");
    assert.equal(status, 200);
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.ok(result.valid, JSON.stringify(result.errors));
    assert.equal(doc.openapi, "3.1.0");
    const listed = (await oo("get", "/registry-svc/")).body.routes as { method: string; path: string }[];
    for (const route of listed.filter((r) => !r.path.endsWith("/openapi.json"))) {
      assert.ok(doc.paths[route.path.replace(/:(\w+)/g, "{$1}")]?.[route.method.toLowerCase()], `${route.method} ${route.path} is documented`);
    }
    assert.deepEqual(Object.keys(doc.components.schemas).sort(), Object.keys(publishedSchemas).sort());
    // Every operation's reply is a published schema, by reference (the row's reply schema).
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, any> }>>)) {
      for (const [method, op] of Object.entries(methods)) assert.match(op.responses["200"].content["application/json"].schema.$ref ?? "", /^#\/components\/schemas\/\w+$/, `${method} ${path}'s reply`);
    }
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const r of refs) assert.ok(doc.components.schemas[r.split("/").at(-1)!], `${r} resolves`);
    const list = doc.paths["/registry-svc/instances"].get;
    assert.ok(list.parameters.some((p: { name: string; in: string }) => p.name === "slug" && p.in === "query"));
  });

  test("GET /metrics is Prometheus text, and its figures move when commands run", async () => {
    /** The samples of an exposition, every line checked against the text format. */
    const scrape = async () => {
      const res = await fetch(`${base}/metrics`);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      const samples = new Map<string, number>();
      for (const line of (await res.text()).split("\n")) {
        if (line === "" || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.eE+-]+|[Nn]a[Nn]|[+-]Inf)$/.exec(line); // NaN as Go parses it (any case)
        assert.ok(m, `not Prometheus text: ${line}`);
        samples.set(m[1]!, Number(m[2]));
      }
      return samples;
    };
    const before = await scrape();
    const at = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;
    for (let i = 0; i < 3; i++) assert.equal((await oo("put", "/registry-svc/instance", { url: `http://127.0.0.1:${26000 + i}`, slug: "metered" })).status, 200);
    assert.equal((await r.call("instance.register", { url: "http://127.0.0.1:26010", slug: "metered" })).code, undefined);
    assert.equal((await oo("put", "/registry-svc/instance", { url: "http://127.0.0.1:26011", colour: "red" })).status, 400);
    publishHeartbeat(r.nc, heartbeat("metered-node"));
    await until(async () => at(await scrape(), 'registry_heartbeats_total{outcome="folded"}') > at(before, 'registry_heartbeats_total{outcome="folded"}'), "a heartbeat to be counted as folded");
    const after = await scrape();
    const grew = (key: string) => at(after, key) - at(before, key);
    assert.equal(grew('registry_requests_total{operation="instance.register",face="http",outcome="ok"}'), 3);
    assert.equal(grew('registry_requests_total{operation="instance.register",face="nats",outcome="ok"}'), 1);
    assert.equal(grew('registry_requests_total{operation="instance.register",face="http",outcome="400"}'), 1);
    assert.equal(grew('registry_request_duration_seconds_count{operation="instance.register"}'), 5);
    assert.equal(grew('registry_events_appended_total{type="InstanceRegistered"}'), 4);
    assert.ok(at(after, 'registry_instances{status="Unknown"}') >= 4);
    assert.ok(at(after, "registry_services") >= 1);
    assert.ok(at(after, 'registry_nodes{status="Online"}') >= 1);
    assert.ok(after.has("registry_projection_pending_events"));
    assert.equal(at(after, 'registry_expiry_protection{state="engaged"}'), 0);
    assert.ok(after.has("registry_process_cpu_seconds_total"));
  });

  test("GET /registry-svc/watch streams instance, node and definition changes and appended events as they happen", async () => {
    const feed = await watchFeed(`${base}/registry-svc/watch`);
    try {
      assert.equal(feed.status, 200);
      const id = (await r.call("instance.register", { url: "http://127.0.0.1:27001", slug: "watched" })).body.instance.id as string;
      const registered = await feed.next("the registration", (e) => e.event === "instance" && e.data.instance?.id === id);
      assert.equal(registered.data.slug, "watched");
      const appended = await feed.next("the appended event", (e) => e.event === "appended" && e.data.subject.endsWith(id));
      assert.equal(appended.data.type, "InstanceRegistered");
      await r.call("instance.status", { id, status: "Stopping" });
      await feed.next("the status change", (e) => e.event === "instance" && e.data.instance?.status === "Stopping");
      await r.call("instance.remove", { id });
      await feed.next("the removal", (e) => e.event === "instance" && e.data.key.endsWith(id) && e.data.instance === null);
      publishHeartbeat(r.nc, heartbeat("watched-node"));
      await feed.next("the node", (e) => e.event === "node" && e.data.node?.id === "watched-node");
      await r.call("definition.save", { definition: { id: "watched-def", image: { name: "nginx:latest" } } });
      await feed.next("the definition", (e) => e.event === "definition" && e.data.definition?.id === "watched-def");
    } finally {
      await feed.close();
    }
  });

  test("the watch feed counts an appended event it cannot read, as every reader of the event stream does, and goes on", async () => {
    const unreadableEvents = async () => (await r.call("health.status", {})).body.unreadable.events as number;
    const feed = await watchFeed(`${base}/registry-svc/watch`);
    try {
      const first = (await r.call("instance.register", { url: "http://127.0.0.1:27011", slug: "poisoned" })).body.instance.id as string;
      await feed.next("the feed to follow appended events", (e) => e.event === "appended" && e.data.subject.endsWith(first));
      const before = await unreadableEvents();
      await jetstream(r.nc).publish(namesFor("registry").eventSubject("instance", "inst_poison"), "not json");
      const next = (await r.call("instance.register", { url: "http://127.0.0.1:27012", slug: "poisoned" })).body.instance.id as string;
      await feed.next("the event after it", (e) => e.event === "appended" && e.data.subject.endsWith(next));
      // The projector skips and counts it once; the feed, following while someone watches, once more.
      await until(async () => (await unreadableEvents()) >= before + 2, "the projector and the feed to count it");
    } finally {
      await feed.close();
    }
  });

  test("GET /healthz and GET /readyz answer with JSON", async () => {
    assert.deepEqual((await oo("get", "/healthz")).body, { status: "ok" });
    assert.deepEqual(await oo("get", "/readyz"), { status: 200, body: { ready: true } });
  });
});

describe("HTTP face in a secured setup: bearer tokens stand for NATS accounts", () => {
  let r: TestRegistry;
  let dir: string;
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${r.registry.httpUrl}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) };
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "registry-http-policy-"));
    const policy = JSON.parse(await readFile(fileURLToPath(new URL("../secure/policy.json", import.meta.url)), "utf8"));
    policy.httpTokens = {
      [tokenHash("viewer-token")]: { account: "VIEWER", name: "grafana" },
      [tokenHash("svc-token")]: { account: "USER_SVC", name: "user-svc deployer" },
      [tokenHash("agent-token")]: { account: "AGENTS", name: "rack-1 agent", user: "agent-node-1" },
      [tokenHash("unbound-agent-token")]: { account: "AGENTS", name: "unbound agent" },
    };
    await writeFile(join(dir, "policy.json"), JSON.stringify(policy));
    r = await startTestRegistry({ policyFile: join(dir, "policy.json"), dnsPublicSlugs: ["payments"] });
  });
  after(async () => {
    await r.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("without a token, or with one the policy does not know, every operation is 401 and nothing is written", async () => {
    const events = await r.eventCount();
    const none = await call("PUT", "/registry-svc/instance", undefined, { url: "http://127.0.0.1:25003", slug: "user-svc" });
    assert.equal(none.status, 401);
    assert.match(none.body.error.message, /Authorization: Bearer <token>.*registry auth add-token/);
    assert.equal((await call("GET", "/registry-svc/instances", "made-up")).status, 401);
    assert.equal(await r.eventCount(), events);
    assert.equal((await fetch(`${r.registry.httpUrl}/healthz`)).status, 200);
  });

  test("Prometheus's targets need a token and show what its account may read; DNS, which carries no identity, answers only the public slugs", async () => {
    await r.call("instance.register", { url: "http://127.0.0.1:27201", slug: "payments", status: "Healthy" });
    await r.call("instance.register", { url: "http://127.0.0.1:27202", slug: "user-svc", status: "Healthy" });
    assert.equal((await call("GET", "/registry-svc/prometheus/targets")).status, 401);
    const slugs = async (token: string) => new Set(((await call("GET", "/registry-svc/prometheus/targets", token)).body as { labels: Record<string, string> }[]).map((g) => g.labels.__meta_registry_slug));
    assert.deepEqual([...(await slugs("viewer-token"))].filter((s) => s === "payments" || s === "user-svc").sort(), ["payments", "user-svc"]);
    assert.ok(!(await slugs("svc-token")).has("payments"), "a service's token: its own slug and those it reads, not payments");
    assert.ok((await slugs("svc-token")).has("user-svc"));
    const dig = async (name: string) => {
      const { stdout } = await promisify(execFile)("dig", ["@127.0.0.1", "-p", String(r.registry.dnsAddr!.port), name, "+tries=1", "+time=3"]);
      return { status: /status: (\w+)/.exec(stdout)?.[1], answers: Number(/ANSWER: (\d+)/.exec(stdout)?.[1]) };
    };
    assert.deepEqual(await dig("payments.service.registry"), { status: "NOERROR", answers: 1 }, "REGISTRY_DNS_PUBLIC names it");
    assert.equal((await dig("user-svc.service.registry")).status, "REFUSED");
    assert.equal((await dig("no-such-svc.service.registry")).status, "REFUSED", "refused whether it exists or not");
    assert.equal((await dig("self-node.node.registry")).status, "REFUSED");
  });

  test("the watch feed shows a token's bearer only what its account may view", async () => {
    assert.equal((await fetch(`${r.registry.httpUrl}/registry-svc/watch`)).status, 401);
    const viewer = await watchFeed(`${r.registry.httpUrl}/registry-svc/watch`, "viewer-token");
    const service = await watchFeed(`${r.registry.httpUrl}/registry-svc/watch`, "svc-token");
    try {
      await r.call("instance.register", { url: "http://127.0.0.1:27101", slug: "payments" });
      await r.call("instance.register", { url: "http://127.0.0.1:27102", slug: "user-svc" });
      await viewer.next("payments, to a viewer", (e) => e.event === "instance" && e.data.slug === "payments");
      await viewer.next("an appended event, to a viewer", (e) => e.event === "appended");
      await service.next("user-svc, to its own service", (e) => e.event === "instance" && e.data.slug === "user-svc");
      // The viewer saw both registrations, so the service's feed has had time to show payments too.
      await viewer.next("user-svc, to a viewer", (e) => e.event === "instance" && e.data.slug === "user-svc");
      assert.ok(!service.events.some((e) => e.event === "instance" && e.data.slug === "payments"), "a service sees no other slug");
      assert.ok(!service.events.some((e) => e.event === "appended"), "a service has no audit:view");

      // What a check saw goes to operators, not to the service (as when it reads the instance).
      const own = (await r.call("instance.register", { url: "http://127.0.0.1:9103", slug: "user-svc", check: { type: "http", intervalMs: 60_000, failuresBeforeChange: 1 } })).body.instance;
      await r.call("instance.checked", { id: own.id, outcome: "unreachable", detail: "connect ECONNREFUSED 10.9.9.9:5432", checkedBy: "registry test" });
      const checked = (e: { event: string; data: any }) => e.event === "instance" && e.data.instance?.id === own.id && e.data.instance.status === "Unreachable";
      const toViewer = await viewer.next("the check's outcome, to a viewer", checked);
      assert.match(toViewer.data.instance.details, /ECONNREFUSED/, "operators read what the probe saw (this report's, or the registry's own check of the closed port)");
      const toService = await service.next("the check's outcome, to its service", checked);
      assert.equal(toService.data.instance.statusCause, "check-unreachable");
      assert.equal(toService.data.instance.details, undefined, "not what the probe saw");
    } finally {
      await viewer.close();
      await service.close();
    }
  });

  test("a token has its account's role: a viewer reads and may not write; a service writes its own slug only, attributed in the history", async () => {
    assert.equal((await call("GET", "/registry-svc/instances", "viewer-token")).status, 200);
    assert.equal((await call("PUT", "/registry-svc/instance", "viewer-token", { url: "http://127.0.0.1:25004", slug: "user-svc" })).status, 403);
    const own = await call("PUT", "/registry-svc/instance", "svc-token", { url: "http://127.0.0.1:9205", slug: "user-svc" });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal((await call("PUT", "/registry-svc/instance", "svc-token", { url: "http://127.0.0.1:25006", slug: "order-svc" })).status, 403);
    const history = await r.call("history", { entity: "instance", id: own.body.instance.id });
    assert.deepEqual(history.body.events[0].by, { account: "USER_SVC", name: "http user-svc deployer" });
  });

  test("an agent's token reports checks as its node and only on its node's instances; a token bound to no node reports none", async () => {
    const nodeUrl = "http://127.0.0.1:11401"; // secure/policy.json binds agent-node-1's node to it
    const check = { type: "http", intervalMs: 60_000 };
    const other = (await r.call("instance.register", { url: "http://127.0.0.1:25101", slug: "order-svc", check, status: "Healthy" })).body.instance;
    const own = (await r.call("instance.register", { url: "http://127.0.0.1:25102", slug: "order-svc", nodeUrl, check, status: "Healthy" })).body.instance;
    const events = await r.eventCount();
    const report = { outcome: "unreachable", detail: "no answer", checkedBy: "registry t3b1" };
    const elsewhere = await call("POST", `/registry-svc/instance/${other.id}/checked`, "agent-token", report);
    assert.equal(elsewhere.status, 403, JSON.stringify(elsewhere.body));
    assert.match(elsewhere.body.error.message, /of node node-1\) reports checks on the instances of its node only \(nodeUrl http:\/\/127\.0\.0\.1:11401\); instance \S+ names no node/);
    const unbound = await call("POST", `/registry-svc/instance/${own.id}/checked`, "unbound-agent-token", report);
    assert.equal(unbound.status, 403);
    assert.match(unbound.body.error.message, /is bound to no node, so it may report no checks; give its user a node in the policy \(accounts\.AGENTS\.nodes/);
    assert.equal(await r.eventCount(), events, "nothing written");

    const reported = await call("POST", `/registry-svc/instance/${own.id}/checked`, "agent-token", report);
    assert.equal(reported.status, 200, JSON.stringify(reported.body));
    assert.equal(reported.body.instance.status, "Unreachable");
    const changed = (await r.call("history", { entity: "instance", id: own.id })).body.events.find((e: { type: string }) => e.type === "InstanceStatusChanged");
    assert.match(changed.reason, /checked by node node-1 \(agent-node-1\)\)$/);
    assert.deepEqual(changed.by, { account: "AGENTS", user: "agent-node-1", name: "http rack-1 agent" });
  });
});
