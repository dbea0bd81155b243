import { test } from "node:test";
import assert from "node:assert/strict";
import type { Entry } from "../src/contract/names.ts";
import type { Instance } from "../src/contract/schemas.ts";
import type { KvMirror } from "../src/nats/kvMirror.ts";
import { InstancesView } from "../src/readmodels/instances.ts";
import { withId, withoutId } from "../src/readmodels/idGroup.ts";
import { instanceIdForUrl } from "../src/commands/registryCommands.ts";

/** The little of a mirror the view uses: its entries by id (as readModels builds it), and a way to tell the view of a change. */
function fakeMirror() {
  const entries = new Map<string, Entry<Instance>>();
  let listener: (key: string, value: Instance | null, previous: Instance | null) => void = () => undefined;
  const mirror = {
    onChange: (l: typeof listener) => (listener = l),
    entries: () => entries.values(),
    entryOfId: (id: string) => entries.get(id),
    valueOfId: (id: string) => entries.get(id)?.value,
  };
  const put = (i: Instance) => {
    const previous = entries.get(i.id)?.value ?? null;
    entries.set(i.id, { value: i, revision: 1, version: 1 });
    listener(`${i.slug}.${i.id}`, i, previous);
  };
  const remove = (i: Instance) => {
    entries.delete(i.id);
    listener(`${i.slug}.${i.id}`, null, i);
  };
  return { mirror: mirror as unknown as KvMirror<Instance>, put, remove };
}

const at = "2026-12-04T00:00:00.000Z";
const instance = (n: number, url = `http://127.0.0.1:${9000 + n}`): Instance => ({ id: `inst_${n}`, url, slug: "svc", tags: [], status: "Healthy", createdAt: at, updatedAt: at });

test("instances - the URL index is built after the load, a slice at a time; a lookup before then finishes it; changes meanwhile win", async () => {
  const { mirror, put, remove } = fakeMirror();
  const view = new InstancesView(mirror, instanceIdForUrl);
  for (let n = 0; n < 1000; n++) put(instance(n));
  assert.equal(view.idOfUrl("http://127.0.0.1:9005/"), "inst_5", "a lookup before the build finishes it at once, any spelling of the URL");
  const { mirror: m2, put: put2, remove: remove2 } = fakeMirror();
  const view2 = new InstancesView(m2, instanceIdForUrl);
  for (let n = 0; n < 1000; n++) put2(instance(n));
  const building = view2.indexUrls(100);
  put2(instance(1, "http://127.0.0.1:7777")); // moved to another URL while the index is built
  remove2(instance(2));
  put2(instance(5000));
  await building;
  assert.equal(view2.idOfUrl("http://127.0.0.1:7777"), "inst_1");
  assert.equal(view2.idOfUrl("http://127.0.0.1:9001"), undefined, "its old URL is free");
  assert.equal(view2.idOfUrl("http://127.0.0.1:9002"), undefined, "a removed instance's URL is free");
  assert.equal(view2.idOfUrl("http://127.0.0.1:14000"), "inst_5000");
  assert.equal(view2.idOfUrl("http://127.0.0.1:9999"), "inst_999");
  remove(instance(5));
  assert.equal(view.idOfUrl("http://127.0.0.1:9005"), undefined, "once built, it follows removals");
});

test("instances - an instance whose id its URL derives is found by its URL without the URL index, by any spelling; moved or removed, its URL is free", async () => {
  const { mirror, put, remove } = fakeMirror();
  const view = new InstancesView(mirror, instanceIdForUrl);
  const derived = (url: string): Instance => ({ ...instance(0, url), id: instanceIdForUrl(url) });
  const a = derived("http://127.0.0.1:9100");
  put(a);
  put(instance(1)); // a chosen id beside it
  await view.indexUrls();
  assert.equal(view.idOfUrl("http://127.0.0.1:9100/"), a.id, "found by the id its URL derives");
  assert.equal(view.idOfUrl("http://127.0.0.1:9001"), "inst_1", "a chosen id is found through the index");
  put({ ...a, url: "http://127.0.0.1:9200" }); // the same id, registered at another URL: no longer the one its URL derives
  assert.equal(view.idOfUrl("http://127.0.0.1:9200"), a.id, "its new URL, through the index");
  assert.equal(view.idOfUrl("http://127.0.0.1:9100"), undefined, "its old URL is free, though its id is still the one that URL derives");
  remove({ ...a, url: "http://127.0.0.1:9200" });
  assert.equal(view.idOfUrl("http://127.0.0.1:9200"), undefined);
  const b = derived("http://127.0.0.1:9300");
  put(b);
  remove(b);
  assert.equal(view.idOfUrl("http://127.0.0.1:9300"), undefined, "a removed one's URL is free");
});

test("instances - a slug's ids: an array while few, a Set past 256; an id held once; taken out, the count of those left", () => {
  let group = withId(undefined, "a");
  group = withId(group, "b");
  group = withId(group, "a");
  assert.deepEqual([...group].sort(), ["a", "b"], "an id is held once");
  assert.ok(Array.isArray(group));
  assert.equal(withoutId(group, "a"), 1);
  assert.equal(withoutId(group, "missing"), 1);
  for (let n = 0; n < 300; n++) group = withId(group, `id${n}`);
  assert.ok(group instanceof Set, "past 256 a Set: taking one out of an array would cost its length");
  assert.equal([...group].length, 301);
  assert.equal(withoutId(group, "b"), 300);
});

test("instances - two spellings of one address of a scheme the URL parser leaves opaque (grpc, redis) find one holder, whichever spelling derived its id", async () => {
  for (const [registered, asked] of [["grpc://svc:50051", "grpc://svc:50051/"], ["grpc://svc:50051/", "grpc://svc:50051"], ["redis://cache:6379/", "redis://cache:6379"]] as const) {
    const { mirror, put } = fakeMirror();
    const view = new InstancesView(mirror, instanceIdForUrl);
    const held = { ...instance(0, registered), id: instanceIdForUrl(registered) };
    put(held);
    await view.indexUrls();
    assert.equal(view.idOfUrl(asked), held.id, `${asked} is held by the instance registered at ${registered}`);
    assert.equal(view.idOfUrl(registered), held.id);
  }
});
