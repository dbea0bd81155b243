import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { parse } from "yaml";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

const fixtures = new URL("../examples/definitions/", import.meta.url);

describe("definitions", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry()));
  after(async () => r.stop());

  test("definition - every seed example saves unchanged and reads back equal", async () => {
    const files = (await readdir(fixtures)).filter((f) => f.endsWith(".yaml")).sort();
    assert.equal(files.length, 11, "9 examples of 002 and 2 of 000");
    for (const file of files) {
      const definition = parse(await readFile(new URL(file, fixtures), "utf8"));
      const saved = await r.call("definition.save", { definition });
      assert.equal(saved.code, undefined, `${file}: ${JSON.stringify(saved.body)}`);
      assert.deepEqual(saved.body, { definition }, file);
      const got = await r.call("definition.get", { id: definition.id });
      assert.deepEqual(got.body, { definition }, file);
    }
    const list = await r.call("definition.list", {});
    assert.equal(list.body.definitions.length, 11);
    assert.deepEqual(
      list.body.definitions.map((d: { id: string }) => d.id),
      [...list.body.definitions.map((d: { id: string }) => d.id)].sort(),
      "listed in id order",
    );
  });

  test("definition - saving the same definition again writes no event", async () => {
    const definition = { id: "same-twice", image: { name: "nginx:alpine", internalPorts: [80] } };
    await r.call("definition.save", { definition });
    const before = await r.eventCount();
    const again = await r.call("definition.save", { definition });
    assert.deepEqual(again.body, { definition });
    assert.equal(await r.eventCount(), before);
  });

  test("definition - a changed definition replaces the stored one", async () => {
    await r.call("definition.save", { definition: { id: "changes", image: { name: "a:1" } } });
    await r.call("definition.save", { definition: { id: "changes", repository: { url: "https://example.com/r.git" } } });
    const got = await r.call("definition.get", { id: "changes" });
    assert.deepEqual(got.body.definition, { id: "changes", repository: { url: "https://example.com/r.git" } });
  });

  test("definition - remove, then get and remove answer 404", async () => {
    await r.call("definition.save", { definition: { id: "gone", image: { name: "x" } } });
    assert.deepEqual((await r.call("definition.remove", { id: "gone" })).body, {});
    const get = await r.call("definition.get", { id: "gone" });
    assert.equal(get.code, 404);
    assert.match(get.body.error.message, /definition "gone" not found/);
    const before = await r.eventCount();
    const again = await r.call("definition.remove", { id: "gone" });
    assert.equal(again.code, 404);
    assert.equal(await r.eventCount(), before, "a remove of nothing writes nothing");
    const list = await r.call("definition.list");
    assert.ok(!list.body.definitions.some((d: { id: string }) => d.id === "gone"));
  });

  const invalid: [string, unknown, RegExp, string][] = [
    ["no id", { image: { name: "x" } }, /\/definition\/id is required/, "/definition/id"],
    ["neither image nor repository", { id: "bad-a" }, /needs an image or a repository/, "/definition"],
    ["both image and repository", { id: "bad-b", image: { name: "x" }, repository: { url: "u" } }, /both image and repository/, "/definition"],
    ["a port out of range", { id: "bad-c", image: { name: "x", internalPorts: [70000] } }, /must be <= 65535/, "/definition/image/internalPorts/0"],
    ["a host port of 0", { id: "bad-d", image: { name: "x" }, ports: [{ internal: 80, host: 0 }] }, /must be >= 1/, "/definition/ports/0/host"],
    ["an empty envar key", { id: "bad-e", image: { name: "x" }, envars: [{ key: "", value: "v" }] }, /fewer than 1/, "/definition/envars/0/key"],
    ["a misspelt field", { id: "bad-f", image: { name: "x", internalPort: [80] } }, /is not a known field/, "/definition/image/internalPort"],
    ["an id with a dot", { id: "a.b", image: { name: "x" } }, /no dots, spaces or wildcards/, "/definition/id"],
    ["an id with a wildcard", { id: "a*", image: { name: "x" } }, /no dots, spaces or wildcards/, "/definition/id"],
    ["an id with a space", { id: "a b", image: { name: "x" } }, /no dots, spaces or wildcards/, "/definition/id"],
    ["5,000 envars", { id: "bad-g", image: { name: "x" }, envars: Array.from({ length: 5000 }, (_, n) => ({ key: `K${n}`, value: "v" })) }, /must not have more than 500 items/, "/definition/envars"],
    ["a 10 KiB envar value", { id: "bad-h", image: { name: "x" }, envars: [{ key: "K", value: "v".repeat(10_240) }] }, /must not have more than 8192 characters/, "/definition/envars/0/value"],
    ["a 3,000-character image name", { id: "bad-i", image: { name: "n".repeat(3000) } }, /must not have more than 2048 characters/, "/definition/image/name"],
  ];
  for (const [what, definition, message, path] of invalid) {
    test(`definition - ${what} is refused with 400 naming the field, nothing written`, async () => {
      const before = await r.eventCount();
      const reply = await r.call("definition.save", { definition });
      assert.equal(reply.code, 400);
      assert.equal(reply.headers["Nats-Service-Error-Code"], "400");
      assert.match(reply.body.error.message, message);
      assert.ok(reply.body.error.details.some((d: { path: string }) => d.path === path), JSON.stringify(reply.body.error.details));
      assert.equal(await r.eventCount(), before);
    });
  }
});
