import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, startCli } from "./harness/cli.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../examples/definitions/${name}`, import.meta.url));

describe("registry CLI", () => {
  let r: TestRegistry;
  let env: Record<string, string>;
  before(async () => {
    r = await startTestRegistry({ heartbeatIntervalMs: 500, offlineAfterMs: 60_000 });
    env = { NATS_URL: r.server.url };
    await until(async () => (await r.call("node.self")).code === undefined, "the registry's node to join");
  });
  after(async () => r.stop());

  test("cli - definitions: save a YAML file, list, get as JSON, remove", async () => {
    const saved = await runCli(["definitions", "save", fixture("api-service.yaml")], env);
    assert.deepEqual([saved.code, saved.stdout, saved.stderr], [0, "saved definition api-svc\n", ""]);
    const listed = await runCli(["def", "ls"], env);
    assert.match(listed.stdout, /^DEFINITION ID\s+SOURCE\s+PORTS\napi-svc\s+image mycompany\/api-server:v1\.2\.0\s+8080->8080,9090->9090\n/);
    const got = await runCli(["definition", "get", "api-svc", "--json"], env);
    assert.deepEqual(JSON.parse(got.stdout), (await r.call("definition.get", { id: "api-svc" })).body, "the same JSON as the NATS API");
    assert.equal((await runCli(["def", "rm", "api-svc"], env)).code, 0);
    const gone = await runCli(["def", "get", "api-svc"], env);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, 'registry: definition "api-svc" not found; list them with registry.definition.list\n');
  });

  test("cli - a definition file that does not parse or validate is refused with file, line and field; nothing written", async () => {
    const dir = r.server.dir;
    const cases: [string, string, RegExp][] = [
      ["bad-port.yaml", "id: bad\nimage:\n  name: x\n  internalPorts: [80, 70000]\n", /^registry: .*bad-port\.yaml:4: \/image\/internalPorts\/1 must be <= 65535\n$/],
      ["bad-syntax.yaml", "id: bad\nimage:\n  name: x\n   oops: [\n", /^registry: .*bad-syntax\.yaml:3: not valid YAML or JSON: /],
      ["bad-key.json", '{"id": "j", "image": {"name": "x"}, "envars": [{"key": "", "value": "v"}]}', /^registry: .*bad-key\.json:1: \/envars\/0\/key must not have fewer than 1 characters\n$/],
      ["no-id.yaml", "image:\n  name: x\n", /^registry: .*no-id\.yaml:1: \/id is required\n$/],
    ];
    const before = await r.eventCount();
    for (const [name, text, message] of cases) {
      await writeFile(join(dir, name), text);
      const run = await runCli(["def", "save", join(dir, name)], env);
      assert.equal(run.code, 2, name);
      assert.match(run.stderr, message, name);
    }
    const missing = await runCli(["def", "save", join(dir, "nowhere.yaml")], env);
    assert.match(missing.stderr, /nowhere\.yaml: cannot read it \(ENOENT\)/);
    assert.equal(await r.eventCount(), before);
  });

  test("cli - instances: register, list in the seed's columns, filters, --json for jq, status, remove", async () => {
    const reg = await runCli(["instances", "register", "--url", "http://127.0.0.1:9101", "--slug", "user-svc", "--tags", '["dev", "user-service"]'], env);
    assert.equal(reg.code, 0, reg.stderr);
    const id = /registered instance (\S+) at http:\/\/127\.0\.0\.1:9101/.exec(reg.stdout)?.[1];
    assert.ok(id, reg.stdout);
    await runCli(["i", "register", "--scheme", "http", "--ip", "127.0.0.2", "--port", "9102", "--slug", "order-svc", "--tag", "staging"], env);
    const table = await runCli(["i", "ls"], env);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    assert.match(header!, /^INSTANCE ID\s+URL\s+STATUS\s+OWNER SLUG\s+LAST HEARTBEAT$/);
    assert.ok(rows.some((row) => new RegExp(`^${id}\\s+http://127\\.0\\.0\\.1:9101\\s+Unknown\\s+user-svc\\s+no lease$`).test(row)), table.stdout);
    await runCli(["i", "register", "--url", "http://127.0.0.1:9103", "--slug", "leased-svc", "--ttl", "30"], env);
    assert.match((await runCli(["i", "ls", "--slug", "leased-svc"], env)).stdout, /leased-svc\s+\d+s ago\n$/);
    const stray = await runCli(["i", "ls", "user-svc"], env);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /unexpected argument "user-svc"; to list one service's instances: registry i ls --slug user-svc/);
    for (const unhealthy of [["--healthy", "false"], ["--healthy=false"]]) {
      const listed = JSON.parse((await runCli(["i", "ls", "--slug", "user-svc", ...unhealthy, "--json"], env)).stdout);
      assert.deepEqual(listed, (await r.call("instance.list", { slug: "user-svc", healthy: false })).body, unhealthy.join(" "));
      assert.equal(listed.instances.length, 1, "the Unknown instance is not healthy");
    }
    assert.equal(JSON.parse((await runCli(["i", "ls", "--slug", "user-svc", "--healthy", "--json"], env)).stdout).instances.length, 0);
    assert.equal((await runCli(["i", "ls", "--healthy=maybe"], env)).code, 2);
    const filtered = JSON.parse((await runCli(["i", "ls", "--slug", "user-svc", "--tag", "dev", "--json"], env)).stdout);
    assert.deepEqual(filtered, (await r.call("instance.list", { slug: "user-svc", tags: ["dev"] })).body);
    // The seed's monitoring one-liner, on the CLI's --json output.
    const json = (await runCli(["i", "ls", "--json"], env)).stdout;
    const lines = execFileSync("jq", ["-r", '.instances[] | "\\(.slug // "N/A") \\(.url) \\(.status)"'], { input: json }).toString();
    assert.match(lines, /^user-svc http:\/\/127\.0\.0\.1:9101 Unknown$/m);
    assert.match(lines, /^order-svc http:\/\/127\.0\.0\.2:9102 Unknown$/m);
    const status = await runCli(["i", "status", id, "Stopping"], env);
    assert.equal(status.stdout, `instance ${id} is Stopping\n`);
    assert.equal((await runCli(["i", "rm", id], env)).code, 0);
    assert.equal((await runCli(["i", "get", id], env)).code, 1);
  });

  test("cli - nodes: list in the seed's columns with '8s ago', self, get by url, select", async () => {
    const listed = await runCli(["nodes", "list"], env);
    assert.match(listed.stdout, /^NODE ID\s+URL\s+LAST HEARTBEAT\nself-node\s+http:\/\/127\.0\.0\.1:11337\s+\d+s ago\n$/);
    assert.equal(JSON.parse((await runCli(["n", "self", "--json"], env)).stdout).node.id, "self-node");
    assert.match((await runCli(["n", "get", "http://127.0.0.1:11337"], env)).stdout, /^NODE ID.*\nself-node /);
    const selected = JSON.parse((await runCli(["n", "select", "--min-cpu-free", "0", "--json"], env)).stdout);
    assert.deepEqual(selected.nodes.map((n: { id: string }) => n.id), ["self-node"]);
    const withUnits = JSON.parse((await runCli(["n", "select", "--min-memory-free", "1Ki", "--min-cpu-free", "0%", "--json"], env)).stdout);
    assert.deepEqual(withUnits.nodes.map((n: { id: string }) => n.id), ["self-node"]);
    const tooBig = JSON.parse((await runCli(["n", "select", "--min-memory-free", "1024Ti", "--json"], env)).stdout);
    assert.deepEqual(tooBig.nodes, [], "1024Ti is read as a size, not as 1024 bytes");
    const bad = await runCli(["n", "select", "--strategy", "random"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^registry: invalid node requirements: \/strategy must be one of bestFit, leastLoaded\n$/);
  });

  test("cli - usage errors exit 2 with one line; --help works everywhere", async () => {
    for (const args of [["frobnicate"], ["i", "register", "--bogus", "1"], ["i", "get"], ["def", "explode"]]) {
      const run = await runCli(args, env);
      assert.equal(run.code, 2, args.join(" "));
      assert.equal(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
      assert.match(run.stderr, /^registry: /);
    }
    for (const args of [["--help"], ["def", "--help"], ["i", "--help"], ["i", "ls", "--help"], ["n", "--help"], ["watch", "--help"], ["top", "--help"]]) {
      const run = await runCli(args, env);
      assert.equal(run.code, 0, args.join(" "));
      assert.match(run.stdout, /^registry /);
    }
  });

  test("cli - an unreachable NATS is one clear line and exit 3, no stack trace", async () => {
    const run = await runCli(["i", "ls"], { NATS_URL: "nats://127.0.0.1:1" });
    assert.equal(run.code, 3);
    assert.equal(run.stderr, "registry: cannot connect to NATS at nats://127.0.0.1:1 (connection refused); start nats-server or set NATS_URL\n");
  });

  test("cli - watch streams changes as they happen; Ctrl-C stops it cleanly", async () => {
    const watch = startCli(["watch", "instances", "--slug", "watched-svc", "--json"], env);
    await until(async () => (await r.jsm.consumers.list("KV_registry_instances").next()).some((c) => c.config.filter_subject === "$KV.registry_instances.watched-svc.>"), "the watch to start");
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:9201", slug: "watched-svc" })).body;
    await r.call("instance.register", { url: "http://127.0.0.1:9202", slug: "unwatched-svc" });
    await r.call("instance.remove", { id: instance.id });
    await watch.waitFor('"operation":"DEL"', "the removal to be printed");
    assert.equal(await watch.interrupt(), 0);
    const events = watch.output().trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => [e.key, e.operation]), [[`watched-svc.${instance.id}`, "PUT"], [`watched-svc.${instance.id}`, "DEL"]]);
    assert.equal(events[0].value.url, "http://127.0.0.1:9201");
  });

  test("cli - watch shows a junk entry and goes on", async () => {
    const watch = startCli(["watch", "instances", "--slug", "junk-watched", "--json"], env);
    await until(async () => (await r.jsm.consumers.list("KV_registry_instances").next()).some((c) => c.config.filter_subject === "$KV.registry_instances.junk-watched.>"), "the watch to start");
    await (await new Kvm(r.nc).open("registry_instances")).put("junk-watched.x", "not json");
    await r.call("instance.register", { url: "http://127.0.0.1:9301", slug: "junk-watched" });
    await watch.waitFor("http://127.0.0.1:9301", "the registration after the junk to be printed");
    const lines = watch.output().trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { bucket: "registry_instances", key: "junk-watched.x", operation: "PUT", revision: lines[0].revision, value: null });
    assert.equal(await watch.interrupt(), 0);
  });

  test("cli - rebuild restores a lost or damaged entry in place and leaves correct ones alone", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:9401", slug: "rebuilt-svc", tags: ["kept"] })).body;
    const { instance: intact } = (await r.call("instance.register", { url: "http://127.0.0.1:9402", slug: "rebuilt-svc" })).body;
    const kv = await new Kvm(r.nc).open("registry_instances");
    await kv.put(`rebuilt-svc.${instance.id}`, "damaged");
    await kv.put("rebuilt-svc.inst_nobody", JSON.stringify({ junk: true }));
    const intactSeq = (await kv.get(`rebuilt-svc.${intact.id}`))!.revision;
    const run = await runCli(["rebuild"], { ...env, LOG_LEVEL: "info" });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /"msg":"buckets rebuilt in place from the events; running registry processes follow on"/);
    assert.equal((await kv.get(`rebuilt-svc.${instance.id}`))?.json<{ tags: string[] }>().tags[0], "kept", "the damaged entry is written again");
    assert.equal((await kv.get("rebuilt-svc.inst_nobody"))?.operation, "DEL", "an entry no event explains is removed");
    assert.equal((await kv.get(`rebuilt-svc.${intact.id}`))?.revision, intactSeq, "a correct entry is not rewritten");
    await until(async () => (await r.call("instance.get", { id: instance.id })).body.instance?.tags?.[0] === "kept", "the running registry to follow");
  });

  test("cli - top draws nodes and service health, and redraws when the registry changes", async () => {
    const top = startCli(["top"], env);
    await top.waitFor(/self-node\s+Online\s+\[/, "the node row");
    await r.call("instance.register", { url: "http://127.0.0.1:9301", slug: "top-svc", status: "Healthy" });
    await top.waitFor(/top-svc\s+1\s+0\s+0\s+0\s+0\s+1/, "a redraw with the new service");
    assert.equal(await top.interrupt(), 0);
    assert.match(top.output(), /NODE ID\s+STATUS\s+CPU\s+MEMORY\s+DISK\s+GPUS\s+LAST HEARTBEAT/);
  });
});
