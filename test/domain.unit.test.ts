import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RegistryError } from "../src/contract/errors.ts";
import type { Instance, Node } from "../src/contract/schemas.ts";
import { assertMayReportOn, assertMaySetStatusAs, checkReporter } from "../src/domain/access.ts";
import { addressKey, normalizeUrl, resolveAddress } from "../src/domain/address.ts";
import { definitionDecider } from "../src/domain/definition.ts";
import { instanceDecider, type RegisterInstance } from "../src/domain/instance.ts";
import { NO_BINDINGS, boundUrlConflict, nodeDecider, ownHeartbeatFreshMs, telemetryNeedsRecord, urlHolder } from "../src/domain/node.ts";
import { placeOn } from "../src/domain/placement.ts";
import { nodeInstanceKey, nodeUrlKey } from "../src/contract/ids.ts";
import { PROJECTIONS } from "../src/projector/projections.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const RECORD_EVERY_MS = 5 * 60_000;
const T1 = "2026-01-01T00:01:00.000Z";
const code = (code: number) => (err: unknown) => err instanceof RegistryError && err.code === code;

const registerCmd = (request: RegisterInstance["data"]["request"], now = T0, id = "inst_1"): RegisterInstance => ({
  type: "RegisterInstance",
  data: { id, address: resolveAddress(request), request },
  metadata: { now },
});

describe("instance decider", () => {
  test("given no instance, when registered, then InstanceRegistered with defaults and the command's time", () => {
    const events = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "user-svc" }), null);
    assert.deepEqual(events, [
      {
        type: "InstanceRegistered",
        data: {
          instance: { id: "inst_1", url: "http://localhost:8080", scheme: "http", host: "localhost", port: 8080, slug: "user-svc", tags: [], status: "Unknown", statusCause: "registered", lastHeartbeat: T0, createdAt: T0, updatedAt: T0 },
        },
      },
    ]);
  });

  test("given an instance, when registered again unchanged, then no event", () => {
    const [registered] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", tags: ["a"] }), null);
    const state = instanceDecider.evolve(null, registered!);
    assert.deepEqual(instanceDecider.decide(registerCmd({ url: "http://localhost:8080", tags: ["a"] }, T1), state), []);
  });

  test("given an instance, when its slug changes, then InstanceUpdated says what changed and where it moved from", () => {
    const state = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "a" }), null)[0]!);
    const [event] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "b", status: "Healthy" }, T1), state);
    assert.equal(event?.type, "InstanceUpdated");
    if (event?.type !== "InstanceUpdated") return;
    assert.deepEqual(event.data.changed, ["slug", "status"]);
    assert.deepEqual(event.data.movedFrom, { slug: "a" });
    assert.equal(event.data.instance.createdAt, T0);
    assert.equal(event.data.instance.updatedAt, T1);
  });

  test("given an instance without slug, when it gets one, then movedFrom has no slug", () => {
    const state = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080" }), null)[0]!);
    const [event] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "b" }, T1), state);
    assert.deepEqual(event?.type === "InstanceUpdated" && event.data.movedFrom, {});
  });

  test("given an instance on a node, when it moves to another node or names none, or is removed, then the event names the node it left", () => {
    const onA = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080", nodeUrl: "http://127.0.0.1:1" }), null)[0]!) as Instance;
    const [moved] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", nodeUrl: "http://127.0.0.1:2" }, T1), onA);
    assert.equal(moved?.type === "InstanceUpdated" && moved.data.leftNodeUrl, "http://127.0.0.1:1");
    const [retagged] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", nodeUrl: "http://127.0.0.1:1", tags: ["x"] }, T1), onA);
    assert.equal(retagged?.type === "InstanceUpdated" && "leftNodeUrl" in retagged.data, false, "the same node: nothing left");
    const [removed] = instanceDecider.decide({ type: "RemoveInstance", data: { id: onA.id }, metadata: { now: T1 } }, onA);
    assert.deepEqual(removed, { type: "InstanceRemoved", data: { id: onA.id, nodeUrl: "http://127.0.0.1:1" } });
  });

  test("the per-node index: an instance naming a node is under that node's key; moving or removing it deletes the key it left", () => {
    const index = PROJECTIONS.nodeInstance;
    const onA = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "s", nodeUrl: "http://127.0.0.1:1" }), null)[0]!) as Instance;
    const [registered] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "s", nodeUrl: "http://127.0.0.1:1" }), null);
    assert.deepEqual(index.evolve(registered!), [{ key: nodeInstanceKey("http://127.0.0.1:1", "inst_1"), value: onA }]);
    assert.match(nodeInstanceKey("http://127.0.0.1:1", "inst_1"), /^[0-9a-f]{32}\.inst_1$/);
    assert.notEqual(nodeUrlKey("http://127.0.0.1:1"), nodeUrlKey("http://127.0.0.1:2"));
    const [moved] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "s", nodeUrl: "http://127.0.0.1:2" }, T1), onA);
    assert.deepEqual(index.evolve(moved!).map((w) => [w.key, w.value === null]), [[nodeInstanceKey("http://127.0.0.1:1", "inst_1"), true], [nodeInstanceKey("http://127.0.0.1:2", "inst_1"), false]]);
    const [offNode] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "s" }, T1), onA);
    assert.equal(offNode?.type === "InstanceUpdated" && offNode.data.changed.includes("nodeUrl"), false, "a registration without nodeUrl keeps it");
    const [removed] = instanceDecider.decide({ type: "RemoveInstance", data: { id: onA.id }, metadata: { now: T1 } }, onA);
    assert.deepEqual(index.evolve(removed!), [{ key: nodeInstanceKey("http://127.0.0.1:1", "inst_1"), value: null }]);
    const plain = instanceDecider.decide(registerCmd({ url: "http://localhost:8081", slug: "s" }, T0, "inst_2"), null);
    assert.deepEqual(index.evolve(plain[0]!), [], "an instance naming no node is not in the index");
  });

  test("given a new url for an instance, then the old address parts are dropped", () => {
    const state = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080/v1" }), null)[0]!) as Instance;
    const [event] = instanceDecider.decide(registerCmd({ url: "http://127.0.0.1" }, T1), state);
    const instance = event?.type === "InstanceUpdated" ? event.data.instance : undefined;
    assert.equal(instance?.host, undefined);
    assert.equal(instance?.path, undefined);
    assert.equal(instance?.port, undefined);
    assert.equal(instance?.ip, "127.0.0.1");
  });

  test("given no instance, when removed, then 404", () => {
    assert.throws(() => instanceDecider.decide({ type: "RemoveInstance", data: { id: "x" }, metadata: { now: T0 } }, null), code(404));
  });
});

describe("address", () => {
  test("a url with a trailing slash keeps / as its path", () => {
    assert.equal(resolveAddress({ url: "http://localhost:8080/" }).path, "/");
  });
  test("parts without a leading slash on the path get one", () => {
    assert.equal(resolveAddress({ host: "localhost", port: 80, path: "api" }).url, "http://localhost:80/api");
  });
  test("matching parts beside a url are accepted; mismatching ones name each field", () => {
    assert.equal(resolveAddress({ url: "http://localhost:8080", port: 8080, scheme: "http" }).port, 8080);
    assert.throws(
      () => resolveAddress({ url: "http://localhost:8080", scheme: "https", host: "127.0.0.1" }),
      (err: unknown) => err instanceof RegistryError && err.details?.map((d) => d.path).join() === "/scheme,/host",
    );
  });
});

describe("definition decider", () => {
  const save = (definition: object) => ({ type: "SaveDefinition" as const, data: { definition: definition as never }, metadata: { now: T0 } });
  test("given nothing, when saved, then DefinitionSaved with the definition unchanged", () => {
    const definition = { id: "d", image: { name: "nginx", internalPorts: [80] } };
    assert.deepEqual(definitionDecider.decide(save(definition), null), [{ type: "DefinitionSaved", data: { definition } }]);
  });
  test("given the same definition, when saved again, then no event", () => {
    const definition = { id: "d", image: { name: "nginx" } };
    assert.deepEqual(definitionDecider.decide(save(definition), definition), []);
  });
  test("a definition needs exactly one of image and repository", () => {
    assert.throws(() => definitionDecider.decide(save({ id: "d" }), null), code(400));
    assert.throws(() => definitionDecider.decide(save({ id: "d", image: { name: "a" }, repository: { url: "u" } }), null), code(400));
  });
});

describe("node decider", () => {
  const hb = (at: string, url = "http://127.0.0.1:11337") => ({
    id: "n1",
    url,
    usage: { cpu: { used: 1, total: 2, percent: 50 }, memory: { used: 1, total: 2, percent: 50 }, disk: { used: 1, total: 2, percent: 50 } },
    at,
  });
  const observe = (at: string, url?: string) => ({ type: "ObserveHeartbeat" as const, data: { heartbeat: hb(at, url), receivedAt: at }, metadata: { now: at } });
  const check = (lastHeartbeat: string, now: string) => ({ type: "CheckLiveness" as const, data: { id: "n1", lastHeartbeat, offlineAfterMs: 15_000 }, metadata: { now } });
  const online = nodeDecider.evolve(null, nodeDecider.decide(observe(T0), null)[0]!)!;

  test("given no node, when a heartbeat comes, then NodeJoined, Online, with the heartbeat's usage", () => {
    const [joined] = nodeDecider.decide(observe(T0), null);
    assert.equal(joined?.type, "NodeJoined");
    assert.equal(online.status, "Online");
    assert.equal(online.lastHeartbeat, T0);
    assert.equal(online.usage?.cpu.percent, 50);
  });

  test("given an online node, when an ordinary heartbeat comes, then no event (heartbeats are telemetry)", () => {
    assert.deepEqual(nodeDecider.decide(observe(T1), online), []);
  });

  test("given a node, when a heartbeat dated far in the future comes, then the time it was received dates it", () => {
    const future = { ...observe(T1), data: { heartbeat: hb("2100-01-01T00:00:00.000Z"), receivedAt: T1 } };
    const [joined] = nodeDecider.decide(future, null);
    assert.equal(joined?.type === "NodeJoined" && joined.data.node.lastHeartbeat, T1);
  });

  test("given an online node, when a heartbeat reports a new url, then NodeUpdated names it", () => {
    const [updated] = nodeDecider.decide(observe(T1, "http://127.0.0.2:11337"), online);
    assert.equal(updated?.type, "NodeUpdated");
    assert.deepEqual(updated?.type === "NodeUpdated" && updated.data.changed, ["url"]);
  });

  test("given an online node, when silent past the threshold, then NodeWentOffline with the silence in its reason", () => {
    const [offline] = nodeDecider.decide(check(T0, "2026-01-01T00:00:20.000Z"), online);
    assert.equal(offline?.type, "NodeWentOffline");
    assert.equal(offline?.type === "NodeWentOffline" && offline.data.node.status, "Offline");
    assert.match(offline?.type === "NodeWentOffline" ? offline.data.reason : "", /^no heartbeat for 20\.0s \(last at 2026-01-01T00:00:00.000Z; offline after 15s\)$/);
  });

  test("given an online node, when checked within the threshold, then no event", () => {
    assert.deepEqual(nodeDecider.decide(check(T0, "2026-01-01T00:00:10.000Z"), online), []);
  });

  test("given an offline node, when checked again, then no second event; when a heartbeat comes, then NodeCameBack", () => {
    const offline = nodeDecider.evolve(online, nodeDecider.decide(check(T0, "2026-01-01T00:00:20.000Z"), online)[0]!)!;
    assert.deepEqual(nodeDecider.decide(check(T0, "2026-01-01T00:00:40.000Z"), offline), []);
    const [back] = nodeDecider.decide(observe(T1), offline);
    assert.equal(back?.type, "NodeCameBack");
    assert.equal(back?.type === "NodeCameBack" && back.data.node.status, "Online");
  });

  test("given a node, when removed, then NodeRemoved names its url; when absent, 404", () => {
    const [removed] = nodeDecider.decide({ type: "RemoveNode", data: { id: "n1", reason: "operator" }, metadata: { now: T0 } }, online);
    assert.deepEqual(removed, { type: "NodeRemoved", data: { id: "n1", url: online.url, reason: "operator" } });
    assert.throws(() => nodeDecider.decide({ type: "RemoveNode", data: { id: "n1", reason: "operator" }, metadata: { now: T0 } }, null), code(404));
  });

  test("given a URL passing on, when its holder came back or is already gone, then nothing is removed and nothing is refused", () => {
    const passing = { type: "RemoveNode", data: { id: "n1", reason: "URL passed", whenOffline: true }, metadata: { now: T0 } } as const;
    const offline = nodeDecider.evolve(online, nodeDecider.decide(check(T0, "2026-01-01T00:00:20.000Z"), online)[0]!)!;
    assert.equal(nodeDecider.decide(passing, offline)[0]?.type, "NodeRemoved");
    assert.deepEqual(nodeDecider.decide(passing, online), [], "an Online holder keeps its URL");
    assert.deepEqual(nodeDecider.decide(passing, null), [], "a holder removed meanwhile is no 404");
  });
});

describe("node telemetry: what is stored, and what stays in memory", () => {
  const usage = (cpu: number) => ({ cpu: { used: cpu / 10, total: 10, percent: cpu }, memory: { used: 1, total: 4, percent: 25 }, disk: { used: 5, total: 10, percent: 50 } });
  const stored = { id: "n1", url: "http://127.0.0.1:1", status: "Online", lastHeartbeat: T0, usage: usage(20) } as Node;
  const at = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();

  test("a steady heartbeat stays in memory until the record period after the stored one", () => {
    assert.equal(telemetryNeedsRecord(stored, { lastHeartbeat: at(5000), usage: usage(29) }, RECORD_EVERY_MS), false);
    assert.equal(telemetryNeedsRecord(stored, { lastHeartbeat: at(RECORD_EVERY_MS), usage: usage(20) }, RECORD_EVERY_MS), true);
    assert.equal(telemetryNeedsRecord({ ...stored, lastHeartbeat: undefined }, { lastHeartbeat: at(1), usage: usage(20) }, RECORD_EVERY_MS), true, "the first");
  });

  test("usage that moves by 10 points, a resource's new total, or GPUs that change are stored at once", () => {
    assert.equal(telemetryNeedsRecord(stored, { lastHeartbeat: at(5000), usage: usage(30) }, RECORD_EVERY_MS), true);
    assert.equal(telemetryNeedsRecord(stored, { lastHeartbeat: at(5000), usage: { ...usage(20), disk: { used: 5, total: 20, percent: 50 } } }, RECORD_EVERY_MS), true);
    const gpu = { id: "g0", intraNodeId: 0, name: "A100", gpuUtilization: 10, memoryUsage: 100, memoryTotal: 1000 };
    const withGpu = { ...stored, gpus: [gpu] };
    assert.equal(telemetryNeedsRecord(withGpu, { lastHeartbeat: at(5000), usage: usage(20), gpus: [{ ...gpu, gpuUtilization: 15 }] }, RECORD_EVERY_MS), false);
    assert.equal(telemetryNeedsRecord(withGpu, { lastHeartbeat: at(5000), usage: usage(20), gpus: [{ ...gpu, gpuUtilization: 50 }] }, RECORD_EVERY_MS), true);
    assert.equal(telemetryNeedsRecord(withGpu, { lastHeartbeat: at(5000), usage: usage(20), gpus: [{ ...gpu, memoryUsage: 300 }] }, RECORD_EVERY_MS), true);
    assert.equal(telemetryNeedsRecord(withGpu, { lastHeartbeat: at(5000), usage: usage(20) }, RECORD_EVERY_MS), true, "GPUs gone");
  });
});

describe("placement", () => {
  test("offline nodes and nodes without usage are never selected", () => {
    const base = { url: "http://127.0.0.1:1", usage: { cpu: { used: 0, total: 1, percent: 0 }, memory: { used: 0, total: 1, percent: 0 }, disk: { used: 0, total: 1, percent: 0 } } };
    const nodes = [
      { ...base, id: "on", status: "Online" as const },
      { ...base, id: "off", status: "Offline" as const },
      { id: "bare", url: "http://127.0.0.1:2", status: "Online" as const },
    ];
    assert.deepEqual(placeOn(nodes, {}).nodes.map((n) => n.id), ["on"]);
  });
});

describe("access: who reports checks and status causes", () => {
  const own = "http://10.0.0.1:11337";
  const agent = { kind: "member", account: "AGENTS", role: "agent", reads: [], node: { id: "node-1", url: own } } as const;
  const service = { kind: "member", account: "ORDER_SVC", role: "service", slug: "order-svc", reads: [] } as const;

  test("an agent reports on the instances at its node's bound URL only; unbound, on none; other principals are not limited", () => {
    assert.doesNotThrow(() => assertMayReportOn(agent, "i1", { nodeUrl: own }));
    assert.throws(() => assertMayReportOn(agent, "i1", { nodeUrl: "http://10.0.0.2:11337" }), /\(nodeUrl http:\/\/10\.0\.0\.1:11337\); instance i1 names http:\/\/10\.0\.0\.2:11337/);
    assert.throws(() => assertMayReportOn(agent, "i1", {}), /names no node/);
    assert.throws(() => assertMayReportOn({ ...agent, node: undefined }, "i1", { nodeUrl: own }), /bound to no node/);
    assert.doesNotThrow(() => assertMayReportOn(agent, "gone", undefined), "a missing instance is the operation's 404");
    for (const p of [{ kind: "registry" }, { kind: "open" }, { kind: "member", account: "ADMIN", role: "admin", reads: [] }] as const) {
      assert.doesNotThrow(() => assertMayReportOn(p, "i1", { nodeUrl: "http://elsewhere" }));
    }
  });

  test("a node may hold only the URL the policy binds to it, and no node another's bound URL; unbound nodes and URLs are first come", () => {
    const bindings = { urlOf: (n: string) => (n === "node-1" ? own : undefined), nodeAt: (u: string) => (u === own ? "node-1" : undefined) };
    assert.equal(boundUrlConflict(bindings, "node-1", own), undefined);
    assert.equal(boundUrlConflict(bindings, "node-1", "http://10.0.0.2:1"), "the policy binds node node-1 to http://10.0.0.1:11337");
    assert.equal(boundUrlConflict(bindings, "node-9", own), "the policy binds http://10.0.0.1:11337 to node node-1");
    assert.equal(boundUrlConflict(bindings, "node-9", "http://10.0.0.2:1"), undefined);
    assert.equal(boundUrlConflict(NO_BINDINGS, "node-1", "http://10.0.0.2:1"), undefined);
  });

  test("the reporter is the caller's identity; without a caller, or open, what the report names", () => {
    assert.equal(checkReporter(agent, { account: "AGENTS", user: "agent-node-1" }, "registry t3b1"), "node node-1 (agent-node-1)");
    assert.equal(checkReporter({ kind: "member", account: "ADMIN", role: "admin", reads: [] }, { account: "ADMIN", user: "admin" }, "x"), "admin of ADMIN");
    assert.equal(checkReporter({ kind: "registry" }, undefined, "registry r1"), "registry r1");
    assert.equal(checkReporter({ kind: "open" }, { account: "SVC" }, "node n1"), "node n1");
  });

  test("by operator is for admins, deployers and the registry itself; a service's report is its own", () => {
    assert.throws(() => assertMaySetStatusAs(service, "operator"), (err: unknown) => code(403)(err) && /leave by out/.test((err as Error).message));
    for (const by of [undefined, "instance"] as const) assert.doesNotThrow(() => assertMaySetStatusAs(service, by));
    for (const role of ["admin", "deployer"] as const) assert.doesNotThrow(() => assertMaySetStatusAs({ kind: "member", account: "A", role, reads: [] }, "operator"));
    assert.doesNotThrow(() => assertMaySetStatusAs({ kind: "registry" }, "operator"));
  });

  test("a URL held by another node is named; one's own, or a free one, is not", () => {
    const nodes = [{ id: "a", url: "http://a", status: "Online" }, { id: "b", url: "http://b", status: "Offline" }] as Node[];
    assert.equal(urlHolder(nodes, "a", "http://b")?.id, "b", "an Offline node still holds its URL");
    assert.equal(urlHolder(nodes, "b", "http://b"), undefined);
    assert.equal(urlHolder(nodes, "c", "http://c"), undefined);
    const twice = [{ id: "old", url: "http://b", status: "Offline" }, { id: "new", url: "http://b", status: "Online" }] as Node[];
    assert.equal(urlHolder(twice, "c", "http://b")?.id, "new", "an Online holder is named before an Offline one");
  });
});

test("liveness - this process's own heartbeat may be late by half an interval before liveness pauses, and still goes stale before any node goes Offline", () => {
  // offline after two intervals: a beat 1.1 intervals old must not pause liveness (it did at offline - interval).
  assert.equal(ownHeartbeatFreshMs(2000, 1000), 1500);
  assert.equal(ownHeartbeatFreshMs(15_000, 5000), 10_000);
  for (const [offline, interval] of [[2000, 1000], [15_000, 5000], [3000, 500]] as const) assert.ok(ownHeartbeatFreshMs(offline, interval) < offline);
});

test("address - normalizeUrl's quick path gives exactly what the WHATWG parser gives, and addressKey one key per address, over plain and tricky URLs", () => {
  // Pieces that a plain URL is made of and ones the parser rewrites (case, default ports, numeric hosts, dot segments, encodings).
  const schemes = ["http", "https", "HTTP", "ws"];
  const hosts = ["127.0.0.1", "user-svc", "a.b.example", "127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "256.1.1.1", "Host", "x-1.y9", "a..b", "host.", "1.2.3.04", "svc1", "-a", "xn--bcher-kva.example"];
  const ports = ["", ":8080", ":80", ":443", ":0", ":08080", ":65535", ":65536", ":1"];
  const paths = ["", "/", "/a/b", "/a/./b", "/a/../b", "/.", "/..", "/a%20b", "/a b", "/~u/x-y_z", "/a?q=1", "/a#f", "/a\\b", "/:@!$&'()*+,;=", "//x", "/a/.b", "/..a"];
  let checked = 0;
  const keyOfNormal = new Map<string, string>();
  const normalOfKey = new Map<string, string>();
  for (const scheme of schemes) {
    for (const host of hosts) {
      for (const port of ports) {
        for (const path of paths) {
          const url = `${scheme}://${host}${port}${path}`;
          let expected: string;
          try {
            expected = new URL(url).href;
          } catch {
            expected = url;
          }
          assert.equal(normalizeUrl(url), expected, url);
          // The index key: one per address (a function of the canonical form, and no two forms share one).
          const key = addressKey(url);
          assert.equal(keyOfNormal.get(expected) ?? key, key, `${url}: one address, one key`);
          assert.equal(normalOfKey.get(key) ?? expected, expected, `${url}: one key, one address`);
          keyOfNormal.set(expected, key);
          normalOfKey.set(key, expected);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 9000);
  assert.equal(addressKey("http://127.0.0.1:8080"), "http://127.0.0.1:8080", "a plain URL is its own key");
  assert.equal(addressKey("HTTP://127.0.0.1:8080/"), "http://127.0.0.1:8080");
});
