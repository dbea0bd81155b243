import { test } from "node:test";
import assert from "node:assert/strict";
import type { Entry } from "../src/contract/names.ts";
import type { Instance } from "../src/contract/schemas.ts";
import type { KvMirror } from "../src/nats/kvMirror.ts";
import { InstancesView } from "../src/readmodels/instances.ts";

/** The little of a mirror the view uses: its entries by id (as readModels builds it), and a way to tell the view of a change. */
function fakeMirror() {
  const entries = new Map<string, Entry<Instance>>();
  let listener: (key: string, value: Instance | null, previous: Instance | null) => void = () => undefined;
  const mirror = {
    onChange: (l: typeof listener) => (listener = l),
    entries: () => entries.values(),
    entryOfId: (id: string) => entries.get(id),
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
  const view = new InstancesView(mirror);
  for (let n = 0; n < 1000; n++) put(instance(n));
  assert.equal(view.idOfUrl("http://127.0.0.1:9005/"), "inst_5", "a lookup before the build finishes it at once, any spelling of the URL");
  const { mirror: m2, put: put2, remove: remove2 } = fakeMirror();
  const view2 = new InstancesView(m2);
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
