/** A mirror's entries kept in slots (src/nats/entrySlots.ts): what a Map of entries would answer. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EntrySlots } from "../src/nats/entrySlots.ts";

test("entry slots - get, set, delete and iteration answer as a Map of entries would; a deleted key's slot is taken again", () => {
  const slots = new EntrySlots<{ n: number }>();
  const map = new Map<string, { value: { n: number }; revision: number; version: number }>();
  const set = (key: string, n: number, revision: number) => {
    slots.set(key, { n }, revision, revision + 1000);
    map.set(key, { value: { n }, revision, version: revision + 1000 });
  };
  const del = (key: string) => {
    slots.delete(key);
    map.delete(key);
  };
  const same = () => {
    assert.equal(slots.size, map.size);
    assert.deepEqual([...slots.keys()], [...map.keys()], "keys in the order first set");
    assert.deepEqual([...slots.entries()], [...map.values()]);
    assert.deepEqual([...slots.values()], [...map.values()].map((e) => e.value));
    for (const key of ["a", "b", "c", "d", "missing"]) {
      assert.deepEqual(slots.get(key), map.get(key), key);
      assert.deepEqual(slots.valueOf(key), map.get(key)?.value, key);
    }
  };
  set("a", 1, 1);
  set("b", 2, 2);
  set("c", 3, 3);
  same();
  set("b", 20, 4); // an update keeps its place
  del("a");
  same();
  set("d", 4, 5); // takes a's slot
  same();
  del("missing");
  del("d");
  del("b");
  del("c");
  same();
  set("a", 5, 6);
  same();
});
