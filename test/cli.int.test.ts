import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
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
    assert.equal(gone.stderr, 'registry: definition "api-svc" not found; list them with registry definitions list\n', "the hint names the CLI command, not the NATS subject");
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
    assert.match(header!, /^INSTANCE ID\s+URL\s+STATUS\s+OWNER SLUG\s+TAGS\s+LAST HEARTBEAT$/);
    assert.ok(rows.some((row) => new RegExp(`^${id}\\s+http://127\\.0\\.0\\.1:9101\\s+Unknown\\s+user-svc\\s+dev,user-service\\s+no lease$`).test(row)), table.stdout);
    // `i get` reads as `n get` does: a table, not JSON (--json gives that).
    const shown = (await runCli(["i", "get", id], env)).stdout;
    assert.match(shown, /^FIELD\s+VALUE\nid\s+inst_\S+\nurl\s+http:\/\/127\.0\.0\.1:9101\nstatus\s+Unknown \(registered\)\nslug\s+user-svc\ntags\s+dev, user-service\n/);
    assert.equal(JSON.parse((await runCli(["i", "get", id, "--json"], env)).stdout).instance.id, id);
    assert.match((await runCli(["i", "register", "--help"], env)).stdout, /^Options:\n\s+--url <url>/m, "--url is the first option of i register --help");
    await runCli(["i", "register", "--url", "http://127.0.0.1:9103", "--slug", "leased-svc", "--ttl", "30"], env);
    const leased = await runCli(["i", "ls", "--slug", "leased-svc", "--json"], env);
    assert.match((await runCli(["i", "ls", "--slug", "leased-svc"], env)).stdout, /leased-svc\s+\d+s ago\n$/);
    await r.call("instance.remove", { id: JSON.parse(leased.stdout).instances[0].id }); // its lapse would be an event in the tests below
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
    assert.match(listed.stdout, /^NODE ID\s+STATUS\s+URL\s+LAST HEARTBEAT\nself-node\s+Online\s+http:\/\/127\.0\.0\.1:11337\s+\d+s ago\n$/);
    assert.equal(JSON.parse((await runCli(["n", "self", "--json"], env)).stdout).node.id, "self-node");
    assert.match((await runCli(["n", "get", "http://127.0.0.1:11337"], env)).stdout, /^NODE ID.*\nself-node /);
    const selected = JSON.parse((await runCli(["n", "select", "--min-cpu-free", "0", "--json"], env)).stdout);
    assert.deepEqual(selected.nodes.map((n: { id: string }) => n.id), ["self-node"]);
    const withUnits = JSON.parse((await runCli(["n", "select", "--min-memory-free", "1Ki", "--min-cpu-free", "0%", "--json"], env)).stdout);
    assert.deepEqual(withUnits.nodes.map((n: { id: string }) => n.id), ["self-node"]);
    const tooBig = JSON.parse((await runCli(["n", "select", "--min-memory-free", "1024Ti", "--json"], env)).stdout);
    assert.deepEqual(tooBig.nodes, [], "1024Ti is read as a size, not as 1024 bytes");
    await r.call("definition.save", { definition: { id: "huge-svc", image: { name: "huge:1" }, requirements: { memoryBytes: 2 ** 50 } } });
    const explained = await runCli(["n", "select", "--definition", "huge-svc", "--explain"], env);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, /^REFUSED NODE\s+FAILS\nself-node\s+minMemoryFreeBytes needs 1125899906842624, has \d+\n$/);
    assert.equal(explained.stderr, "no Online node fits these requirements (--explain says what each node fails)\n");
    const fits = JSON.parse((await runCli(["n", "select", "--definition", "huge-svc", "--min-memory-free", "1Ki", "--json"], env)).stdout);
    assert.deepEqual(fits.nodes.map((n: { id: string }) => n.id), ["self-node"], "--min-memory-free overrides the definition's memory");
    const bad = await runCli(["n", "select", "--strategy", "random"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^registry: invalid node requirements: \/strategy must be one of bestFit, leastLoaded\n$/);
  });

  test("cli - usage errors exit 2 with one line naming the argument; nothing is written", async () => {
    const before = await r.eventCount();
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["i", "register", "--bogus", "1"], /unknown option '--bogus'/],
      [["i", "get"], /missing required argument 'id'/],
      [["def", "explode"], /unknown command 'explode'/],
      [["i", "get", "a", "b"], /too many arguments/],
      [["serve", "extra"], /too many arguments for 'serve'/],
      [["rebuild", "--now"], /unknown option '--now'/],
      [["i", "register", "--url", "http://127.0.0.1:9999", "--ttl", "soon"], /'--ttl <seconds>' argument 'soon' is invalid/],
      [["i", "status", "inst_x", "Sleepy"], /'Sleepy' is invalid for argument 'status'/],
      [["n", "select", "--min-memory-free", "lots"], /'--min-memory-free <size>' argument 'lots' is invalid\. It must be a size/],
      [["health", "protection", "maybe"], /'maybe' is invalid/],
      [["watch", "everything"], /'everything' is invalid/],
      [["history", "--since", "yesterday"], /'--since <time\|1h>' argument 'yesterday' is invalid/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, env);
      assert.equal(run.code, 2, args.join(" "));
      assert.equal(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
      assert.match(run.stderr, /^registry: /);
      assert.match(run.stderr, message, args.join(" "));
    }
    assert.equal(await r.eventCount(), before);
  });

  test("cli - --help on every command and subcommand prints its help and does nothing else", async () => {
    const { buildProgram } = await import("../src/cli/main.ts");
    const paths: string[][] = [];
    const walk = (command: Command, path: string[]) => {
      paths.push(path);
      for (const sub of command.commands) if (sub.name() !== "help") walk(sub, [...path, sub.name()]);
    };
    walk(buildProgram({ out: process.stdout, err: process.stderr, interrupted: () => new Promise(() => undefined) }, []), []);
    assert.ok(paths.length >= 30, `every command is walked (${paths.length})`);
    const before = await r.eventCount();
    // Nothing answers on port 1: a command that did anything but print its help would fail.
    for (const path of paths) {
      const run = await runCli([...path, "--help"], { NATS_URL: "nats://127.0.0.1:1" });
      assert.deepEqual([run.code, run.stderr], [0, ""], path.join(" "));
      assert.match(run.stdout, new RegExp(`^Usage: registry${path.map((p) => ` ${p}\\S*`).join("")} `), path.join(" "));
    }
    assert.equal(await r.eventCount(), before);
  });

  test("cli - i register --help says what a lease's grace is, as the API does: the time from a lapse to the deregistration", async () => {
    const help = (await runCli(["i", "register", "--help"], { NATS_URL: "nats://127.0.0.1:1" })).stdout.replace(/\s+/g, " ");
    assert.match(help, /--grace <seconds> after its lease lapses, deregistered this much later \(default twice --ttl\)/);
  });

  test("cli - an empty result prints no headers but one line on stderr saying so, exit 0; --json still gives the JSON", async () => {
    for (const [args, said] of [
      [["i", "ls", "--slug", "nobody-svc"], "no instance matches these filters\n"],
      [["n", "select", "--min-memory-free", "1024Ti"], "no Online node fits these requirements (--explain says what each node fails)\n"],
      [["n", "ls", "--id", "no-such-node"], "no node no-such-node\n"],
      [["i", "ls", "--as-of", "2000-01-01T00:00:00Z"], "no instance matches these filters\n"],
    ] as const) {
      const run = await runCli([...args], env);
      assert.deepEqual([run.code, run.stdout, run.stderr], [0, "", said], args.join(" "));
    }
    assert.deepEqual(JSON.parse((await runCli(["i", "ls", "--slug", "nobody-svc", "--json"], env)).stdout), { instances: [] });
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
    assert.deepEqual(lines[0], { bucket: "registry_instances", key: "junk-watched.x", operation: "PUT", revision: lines[0].revision, update: true, value: null });
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

  test("cli - top --json prints one snapshot and exits; piped, top writes no screen-clearing codes", async () => {
    const snapshot = await runCli(["top", "--json"], env);
    assert.equal(snapshot.code, 0, snapshot.stderr);
    const parsed = JSON.parse(snapshot.stdout);
    assert.ok(parsed.nodes.some((n: { id: string }) => n.id === "self-node") && Array.isArray(parsed.services) && typeof parsed.definitions === "number");
    const piped = startCli(["top"], env);
    await piped.waitFor(/self-node\s+Online/, "a frame");
    assert.equal(await piped.interrupt(), 0);
    assert.ok(!piped.output().includes("\x1b["), "no escape codes when piped");
  });

  test("cli - top draws nodes and service health, and redraws when the registry changes", async () => {
    const top = startCli(["top"], env);
    await top.waitFor(/self-node\s+Online\s+\[/, "the node row");
    await r.call("instance.register", { url: "http://127.0.0.1:9301", slug: "top-svc", status: "Healthy" });
    await top.waitFor(/top-svc\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+1/, "a redraw with the new service");
    assert.equal(await top.interrupt(), 0);
    assert.match(top.output(), /NODE ID\s+STATUS\s+CPU\s+MEMORY\s+DISK\s+GPUS\s+LAST HEARTBEAT/);
    assert.match(top.output(), /SERVICE\s+HEALTHY\s+DEGRADED\s+UNHEALTHY\s+UNREACHABLE\s+UNKNOWN\s+STARTING\s+STOPPING\s+TOTAL/);
  });

  test("cli - health shows leases, the event stream and protection; health protection off|on switches it", async () => {
    const shown = await runCli(["health"], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^expiry protection: on, not engaged\n/);
    assert.match(shown.stdout, /leases\s+\d+ \(\d+ lapsed\)\n/);
    assert.match(shown.stdout, /event stream\s+\d+ events, [\d.]+ (B|KiB|MiB) \(\d+% of [\d.]+ (MiB|GiB)\); [\d.]+ (MiB|GiB) reserved past it for liveness/);
    assert.match(shown.stdout, /heartbeats\s+folded by the answering process for \d+ nodes?; at most \d+ nodes join \(REGISTRY_HEARTBEAT_SUBJECTS\); \d+ dropped/);
    assert.match(shown.stdout, /storage changed outside the registry\s+never/);
    const json = JSON.parse((await runCli(["health", "status", "--json"], env)).stdout);
    const overNats = (await r.call("health.status")).body;
    assert.deepEqual(Object.keys(json).sort(), Object.keys(overNats).sort(), "the API's JSON");
    assert.deepEqual(json.protection, overNats.protection); // the rest moves as the registry works
    const off = await runCli(["health", "protection", "off"], env);
    assert.deepEqual([off.code, off.stdout], [0, "expiry protection: off (lapsed leases always expire)\n"]);
    assert.equal((await r.call("health.status")).body.protection.enabled, false);
    assert.equal((await runCli(["health", "protection", "on"], env)).code, 0);
    assert.equal((await r.call("health.status")).body.protection.enabled, true);
  });

  test("cli - i renew renews a lease; an instance without one is refused with what to do", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:9501", slug: "renewed-svc", ttlSeconds: 30 })).body;
    const renewed = await runCli(["i", "renew", instance.id], env);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.match(renewed.stdout, new RegExp(`^renewed the lease of instance ${instance.id} \\(30 s from now\\); it is Healthy\n$`));
    assert.ok((await r.call("instance.get", { id: instance.id })).body.instance.lastHeartbeat > instance.lastHeartbeat, "the renewal is stored");
    const { instance: plain } = (await r.call("instance.register", { url: "http://127.0.0.1:9502", slug: "renewed-svc" })).body;
    const refused = await runCli(["i", "renew", plain.id], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /has no lease to renew; register it with ttlSeconds/);
    const missing = await runCli(["i", "renew", "inst_nobody"], env);
    assert.equal(missing.stderr, 'registry: instance "inst_nobody" not found (it was removed, or its lease expired); list them with registry instances list\n');
  });

  test("cli - registering a known URL says whether it registered, updated (which fields) or changed nothing; under another slug that it moved the instance", async () => {
    const first = await runCli(["i", "register", "--url", "http://127.0.0.1:9601", "--slug", "old-svc"], env);
    assert.match(first.stdout, /^registered instance/);
    const moved = await runCli(["i", "register", "--url", "http://127.0.0.1:9601", "--slug", "new-svc"], env);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, /^moved instance inst_\w+ at http:\/\/127\.0\.0\.1:9601 from service old-svc to new-svc \(one URL is one instance\)\n$/);
    const json = JSON.parse((await runCli(["i", "register", "--url", "http://127.0.0.1:9601", "--slug", "old-svc", "--json"], env)).stdout);
    assert.deepEqual(json.movedFrom, { slug: "new-svc" });
    const again = JSON.parse((await runCli(["i", "register", "--url", "http://127.0.0.1:9601", "--slug", "old-svc", "--json"], env)).stdout);
    assert.equal(again.movedFrom, undefined, "no move, no movedFrom");
    assert.equal(again.outcome, "unchanged");
    const same = await runCli(["i", "register", "--url", "http://127.0.0.1:9601", "--slug", "old-svc"], env);
    assert.equal(same.stdout, `instance ${again.instance.id} at http://127.0.0.1:9601 is registered as given already: nothing changed\n`);
    const tagged = await runCli(["i", "register", "--url", "http://127.0.0.1:9601", "--tag", "blue"], env);
    assert.equal(tagged.stdout, `updated instance ${again.instance.id} at http://127.0.0.1:9601: tags changed (what a registration does not give is kept)\n`);
  });

  test("cli - watch prints the current state first, then changes; --changes-only skips the state; --from replays from a revision", async () => {
    const { instance: existing } = (await r.call("instance.register", { url: "http://127.0.0.1:9701", slug: "state-svc" })).body;
    const { instance: removed } = (await r.call("instance.register", { url: "http://127.0.0.1:9702", slug: "state-svc" })).body;
    await r.call("instance.remove", { id: removed.id });
    const revisionOf = async (id: string) => (await (await new Kvm(r.nc).open("registry_instances")).get(`state-svc.${id}`))!.revision;
    const from = await revisionOf(existing.id);
    const watching = (args: string[]) => startCli(["watch", "instances", "--slug", "state-svc", "--json", ...args], env);
    const full = watching([]);
    const changesOnly = watching(["--changes-only"]);
    const replay = watching(["--from", String(from)]);
    await full.waitFor(existing.id, "the current state");
    await until(async () => (await r.jsm.consumers.list("KV_registry_instances").next()).filter((c) => c.config.filter_subject === "$KV.registry_instances.state-svc.>").length >= 3, "the three watches to start");
    const { instance: added } = (await r.call("instance.register", { url: "http://127.0.0.1:9703", slug: "state-svc" })).body;
    for (const w of [full, changesOnly, replay]) await w.waitFor(added.id, "the new registration");
    const lines = (w: typeof full) => w.output().trim().split("\n").map((l) => JSON.parse(l) as { key: string; operation: string; update: boolean });
    const seen = (w: typeof full) => lines(w).map((l) => [l.key.split(".")[1], l.operation, l.update]);
    assert.deepEqual(seen(full), [[existing.id, "PUT", false], [added.id, "PUT", true]], "the state (without the removed one), then the change");
    assert.deepEqual(seen(changesOnly), [[added.id, "PUT", true]]);
    // The bucket keeps each key's latest entry only: the removed instance's registration gave way to its delete marker.
    assert.deepEqual(seen(replay), [[existing.id, "PUT", true], [removed.id, "DEL", true], [added.id, "PUT", true]], "each key's latest change from the revision on");
    for (const w of [full, changesOnly, replay]) assert.equal(await w.interrupt(), 0);
  });
});

test("cli - top fits a 60-column terminal and counts each status apart", async () => {
  const { renderTop } = await import("../src/cli/top.ts");
  const now = Date.parse("2026-11-24T12:00:00Z");
  const usage = { cpu: { percent: 42 }, memory: { percent: 73, totalBytes: 1, usedBytes: 1 }, disk: { percent: 12, totalBytes: 1, usedBytes: 1 } };
  const node = { id: "a-node-with-a-rather-long-identifier-indeed", url: "http://127.0.0.1:1", status: "Online", usage, gpus: [{ gpuUtilization: 40 }], lastHeartbeat: new Date(now - 8000).toISOString() };
  const instance = (status: string, slug = "order-svc") => ({ id: `inst_${status}`, url: "http://127.0.0.1:2", slug, status, tags: [] });
  const screen = renderTop([node] as never, ["Healthy", "Unknown", "Unknown", "Starting", "Stopping"].map((s) => instance(s)) as never, 2, now, 60);
  for (const line of screen.split("\n")) assert.ok(line.length <= 60, `"${line}" is ${line.length} columns`);
  assert.match(screen, /SERVICE\s+OK\s+DEG\s+BAD\s+UNR\s+UNK\s+UP\s+DOWN\s+TOTAL\norder-svc\s+1\s+0\s+0\s+0\s+2\s+1\s+1\s+5\n/);
  assert.match(screen, /\na-node-with-a-r…\s+Online\s+42%\s+73%\s+12%\s+1 40%\s+8s ago\n/, "a long id is shortened, the numbers kept");
  assert.match(screen, /UNK unknown/, "the short headers are explained");
});
