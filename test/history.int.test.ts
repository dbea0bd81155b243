/**
 * History: a scripted sequence of changes, then the history of the entity and the audit log
 * compared with what was done at each step.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "./harness/cli.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

describe("history", () => {
  let r: TestRegistry;
  let id: string;
  let startedAt: string;
  before(async () => {
    r = await startTestRegistry({ offlineAfterMs: 600_000 });
    startedAt = new Date().toISOString();
    id = (await r.call("instance.register", { url: "http://127.0.0.1:7801", slug: "hist-svc", tags: ["a"] })).body.instance.id;
    await r.call("instance.register", { url: "http://127.0.0.1:7801", slug: "hist-svc", tags: ["b"] });
    await r.call("instance.status", { id, status: "Stopping", by: "operator" });
    await r.call("definition.save", { definition: { id: "hist-def", image: { name: "nginx" } } });
    await r.call("instance.remove", { id });
  });
  after(async () => r.stop());

  test("history - an instance's events in order, each saying what changed", async () => {
    const { code, body } = await r.call("history", { entity: "instance", id });
    assert.equal(code, undefined, JSON.stringify(body));
    assert.deepEqual(
      body.events.map((e: { type: string }) => e.type),
      ["InstanceRegistered", "InstanceUpdated", "InstanceStatusChanged", "InstanceRemoved"],
    );
    const [registered, updated, status] = body.events;
    assert.equal(registered.entity, "instance");
    assert.equal(registered.id, id);
    assert.ok(registered.at >= startedAt);
    assert.deepEqual(updated.changed, ["tags"]);
    assert.deepEqual(updated.changes, [{ field: "tags", from: ["a"], to: ["b"] }], "an update says each changed field's value before and after");
    assert.equal(updated.by, undefined, "an open registry names no caller");
    assert.equal(updated.via, "nats", "but says the change came from a request, not from the registry itself");
    const nodeEvents = async () => (await r.call("history", { entity: "node", id: "self-node" })).body.events;
    await until(async () => (await nodeEvents()).length > 0, "the registry's own node to join");
    const [joined] = await nodeEvents();
    assert.deepEqual([joined.type, joined.by, joined.via], ["NodeJoined", undefined, undefined], "the registry's own decision names no face");
    assert.deepEqual([status.from, status.to, status.cause], ["Unknown", "Stopping", "operator"]);
    assert.ok(body.events.every((e: { seq: number }, n: number) => n === 0 || e.seq > body.events[n - 1].seq));
    assert.equal(body.next, undefined);
  });

  test("history - pages of limit, following next", async () => {
    const first = (await r.call("history", { entity: "instance", id, limit: 3 })).body;
    assert.equal(first.events.length, 3);
    assert.equal(first.next, first.events[2].seq);
    const second = (await r.call("history", { entity: "instance", id, limit: 3, after: first.next })).body;
    assert.deepEqual(second.events.map((e: { type: string }) => e.type), ["InstanceRemoved"]);
    assert.equal(second.next, undefined);
  });

  test("history - the audit log: every change since a time, across entities", async () => {
    const { body } = await r.call("history", { since: startedAt, limit: 1000 });
    const mine = body.events.filter((e: { entity: string; id: string }) => e.id === id || e.id === "hist-def").map((e: { type: string }) => e.type);
    assert.deepEqual(mine, ["InstanceRegistered", "InstanceUpdated", "InstanceStatusChanged", "DefinitionSaved", "InstanceRemoved"]);
    const none = (await r.call("history", { since: new Date(Date.now() + 60_000).toISOString() })).body;
    assert.deepEqual(none.events, []);
  });

  test("history - --since and after reach the stream's last event, whatever the subjects in between", async () => {
    // nats-server 2.9 undercounts a start-time or start-sequence consumer's pending when the
    // stream holds many subjects: reading until pending is 0 stopped short of the end.
    const since = new Date().toISOString();
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) {
      const { instance } = (await r.call("instance.register", { url: `http://127.0.0.1:${9600 + n}`, slug: `audit-${n % 3}` })).body;
      ids.push(instance.id);
      await r.call("definition.save", { definition: { id: `audit-def-${n}`, image: { name: "x" } } });
    }
    for (const id of ids) await r.call("instance.remove", { id });
    const last = (await r.jsm.streams.info("REGISTRY_EVENTS")).state.last_seq;
    // The registry's own node may write meanwhile (NodeJoined or NodeCameBack on a loaded machine): count this test's entities only.
    const ours = (events: { entity: string; seq: number }[]) => events.filter((e) => e.entity === "instance" || e.entity === "definition");
    const audit = (await r.call("history", { since })).body;
    assert.ok(audit.events.at(-1).seq >= last, "the audit log reaches the last event");
    assert.equal(ours(audit.events).length, 18);
    const fromSeq = (await r.call("history", { after: ours(audit.events)[3]!.seq })).body;
    assert.ok(fromSeq.events.at(-1).seq >= last, "a page after a sequence reaches it too");
    assert.equal(ours(fromSeq.events).length, 14);
    assert.deepEqual(ours((await r.call("history", { after: last })).body.events), [], "after the last one: nothing, at once");
    assert.deepEqual((await r.call("history", { since: new Date(Date.now() + 60_000).toISOString() })).body.events, [], "since a time after the last one: nothing, at once");
  });

  test("history - refused without an entity for an id, with a clear 400", async () => {
    const reply = await r.call("history", { id });
    assert.equal(reply.code, 400);
    assert.match(reply.body.error.message, /\/entity is required with id/);
  });

  test("history - the CLI prints it as a table, and the audit log with --since", async () => {
    const env = { NATS_URL: r.server.url };
    const shown = await runCli(["history", "instance", id], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^SEQ +TIME +TYPE +ENTITY +CHANGE +BY/);
    assert.match(shown.stdout, /InstanceStatusChanged +instance \S+ +Unknown -> Stopping \(operator\) +unnamed \(nats\)/);
    assert.match(shown.stdout, /InstanceUpdated +instance \S+ +tags: a -> b +unnamed \(nats\)/);
    const audit = await runCli(["history", "--since", "1h", "--json"], env);
    assert.ok(JSON.parse(audit.stdout).events.some((e: { type: string }) => e.type === "DefinitionSaved"));
    const bad = await runCli(["history", "--since", "yesterday"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'--since <time\|1h>' argument 'yesterday' is invalid\. It must be a time such as .* or a duration such as 1h/);
  });
});

describe("time travel", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry({ offlineAfterMs: 600_000 });
  });
  after(async () => r.stop());

  test("time travel - lists with asOf answer the state after each step, by sequence and by time", async () => {
    const seqAfter = async () => (await r.jsm.streams.info("REGISTRY_EVENTS")).state.last_seq;
    const steps: { seq: number; at: string; tags: string[] | null; defined: boolean }[] = [];
    const step = async (tags: string[] | null, defined: boolean) => {
      steps.push({ seq: await seqAfter(), at: new Date().toISOString(), tags, defined });
      // the next change is stamped a moment later than this step's time
      await until(() => Date.now() > Date.parse(steps.at(-1)!.at), "the clock to move past the step");
    };
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:7901", slug: "tt-svc", tags: ["v1"] })).body;
    await step(["v1"], false);
    await r.call("instance.register", { url: "http://127.0.0.1:7901", slug: "tt-svc", tags: ["v2"] });
    await r.call("definition.save", { definition: { id: "tt-def", image: { name: "nginx" } } });
    await step(["v2"], true);
    await r.call("instance.remove", { id: instance.id });
    await step(null, true);
    for (const s of steps) {
      for (const asOf of [s.seq, s.at]) {
        const listed = (await r.call("instance.list", { slug: "tt-svc", asOf })).body;
        assert.deepEqual(listed.instances.map((i: { tags: string[] }) => i.tags), s.tags ? [s.tags] : [], `instances as of ${asOf}`);
        const defs = (await r.call("definition.list", { asOf })).body.definitions.map((d: { id: string }) => d.id);
        assert.equal(defs.includes("tt-def"), s.defined, `definitions as of ${asOf}`);
      }
    }
    const cli = await runCli(["i", "ls", "--slug", "tt-svc", "--as-of", String(steps[0]!.seq), "--json"], { NATS_URL: r.server.url });
    assert.deepEqual(JSON.parse(cli.stdout).instances.map((i: { tags: string[] }) => i.tags), [["v1"]]);
    const nodesThen = (await r.call("node.list", { asOf: 0 })).body.nodes;
    assert.deepEqual(nodesThen, [], "before the first event there was nothing");
  });

  test("time travel - asOf, since and until take a duration back from now on both faces; a bad one is one clear 400", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:7902", slug: "ago-svc" })).body;
    const ids = (body: { instances: { id: string }[] }) => body.instances.map((i) => i.id);
    assert.deepEqual(ids((await r.call("instance.list", { slug: "ago-svc", asOf: "1d" })).body), [], "a day ago it was not there");
    assert.deepEqual(ids((await r.call("instance.list", { slug: "ago-svc", asOf: "0s" })).body), [instance.id], "now it is");
    const http = async (query: string) => {
      const res = await fetch(`${r.registry.httpUrl}/registry-svc/instances?slug=ago-svc&${query}`);
      return { status: res.status, body: await res.json() };
    };
    assert.deepEqual(ids((await http("asOf=1d")).body), []);
    assert.deepEqual(ids((await http("asOf=0s")).body), [instance.id]);
    const bad = await http("asOf=yesterday");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^invalid .*: \/asOf must be an RFC 3339 time \(2026-11-24T10:00:00Z\), a duration back from now \(90s, 10m, 1h, 7d\) or an event stream sequence \(a whole number\)$/);
    const audit = (await r.call("history", { since: "1h", until: "0s", limit: 1000 })).body.events;
    assert.ok(audit.some((e: { id?: string; type: string }) => e.id === instance.id && e.type === "InstanceRegistered"), "the last hour's audit log holds the registration");
    assert.deepEqual((await r.call("history", { since: "1h", until: "1h" })).body.events, [], "until an hour ago: nothing of this test's hour");
    // The longest duration the rule takes reaches back past 1970: the start of time, not an error.
    assert.deepEqual(ids((await r.call("instance.list", { slug: "ago-svc", asOf: "999999999d" })).body), []);
    const sinceEver = await r.call("history", { since: "999999999d", limit: 1000 });
    assert.equal(sinceEver.code, undefined, JSON.stringify(sinceEver.body));
    assert.ok(sinceEver.body.events.length > 0, "since the start of time: every change");
    const badSince = await r.call("history", { since: "soon" });
    assert.equal(badSince.code, 400);
    assert.match(badSince.body.error.message, /\/since must be an RFC 3339 time \(2026-11-24T10:00:00Z\) or a duration back from now \(90s, 10m, 1h, 7d\)$/);
  });
});
