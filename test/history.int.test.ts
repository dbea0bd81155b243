/**
 * History: a scripted sequence of changes, then the history of the entity and the audit log
 * compared with what was done at each step.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "./harness/cli.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

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
    assert.match(shown.stdout, /InstanceStatusChanged +instance \S+ +Unknown -> Stopping \(operator\) +registry/);
    const audit = await runCli(["history", "--since", "1h", "--json"], env);
    assert.ok(JSON.parse(audit.stdout).events.some((e: { type: string }) => e.type === "DefinitionSaved"));
    const bad = await runCli(["history", "--since", "yesterday"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since must be a time such as .* or a duration such as 1h/);
  });
});
