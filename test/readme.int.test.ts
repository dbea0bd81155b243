import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

// The README's `nats req SUBJECT 'JSON'` lines, sent as the nats CLI sends them.
let r: TestRegistry;
before(async () => (r = await startTestRegistry()));
after(async () => r.stop());

test("readme - every nats req example of the README succeeds", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  const examples = [...readme.matchAll(/^nats req (registry\.[a-z.]+) '(.*)'$/gm)].map((m) => ({ subject: m[1]!, body: m[2]! }));
  assert.ok(examples.length >= 5, `found ${examples.length} examples`);
  await until(async () => (await r.call("node.self")).code === undefined, "the registry's node to join (node.self)");
  for (const { subject, body } of examples) {
    const reply = await r.call(subject.slice("registry.".length), body);
    assert.equal(reply.code, undefined, `${subject} ${body}: ${JSON.stringify(reply.body)}`);
  }
  const listed = await r.call("instance.list", { slug: "user-svc" });
  assert.equal(listed.body.instances[0].url, "http://127.0.0.1:8080");
});
