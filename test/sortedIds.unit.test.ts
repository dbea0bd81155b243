import { test } from "node:test";
import assert from "node:assert/strict";
import { SortedIds } from "../src/readmodels/sortedIds.ts";

/** A small deterministic random sequence, so a failure repeats. */
function random(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

test("sortedIds - adds, deletes and ordered reads from any id agree with a sorted array, across chunk splits and emptied chunks", () => {
  const next = random(42);
  const ids = new SortedIds();
  const reference = new Set<string>();
  const id = () => `inst_${Math.floor(next() * 20_000).toString(36).padStart(4, "0")}`;
  for (let step = 0; step < 30_000; step++) {
    const x = id();
    if (next() < 0.7) {
      ids.add(x);
      reference.add(x);
    } else {
      ids.delete(x);
      reference.delete(x);
    }
  }
  for (const x of [...reference].sort().slice(0, 3_000)) {
    ids.delete(x); // the lowest ids: whole chunks emptied
    reference.delete(x);
  }
  const sorted = [...reference].sort();
  assert.equal(ids.size, sorted.length);
  assert.deepEqual([...ids.after()], sorted);
  for (const from of [sorted[0]!, sorted[1234]!, sorted.at(-1)!, "inst_", "inst_zzzz", `${sorted[500]!}0`]) {
    assert.deepEqual([...ids.after(from)], sorted.filter((s) => s > from), `after ${from}`);
  }
});

test("sortedIds - adding an id twice keeps one; deleting an absent id changes nothing", () => {
  const ids = new SortedIds();
  for (const x of ["b", "a", "c", "b"]) ids.add(x);
  ids.delete("zz");
  ids.delete("0");
  assert.deepEqual([...ids.after()], ["a", "b", "c"]);
  assert.equal(ids.size, 3);
  assert.deepEqual([...new SortedIds().after("a")], []);
});

test("sortedIds - many ids added in no order before a read are placed at once, duplicates and all, and the set goes on as before", () => {
  const next = random(7);
  const ids = new SortedIds();
  const reference = new Set<string>();
  for (let n = 0; n < 50; n++) {
    const x = `inst_${Math.floor(next() * 1e9).toString(16)}`;
    ids.add(x);
    reference.add(x);
  }
  assert.equal(ids.size, reference.size, "a few: placed one by one");
  for (let n = 0; n < 100_000; n++) {
    const x = `inst_${Math.floor(next() * 60_000).toString(16)}`; // duplicates among them
    ids.add(x);
    reference.add(x);
  }
  const sorted = [...reference].sort();
  assert.deepEqual([...ids.after()], sorted, "many: sorted and merged, each once");
  assert.equal(ids.size, sorted.length);
  ids.delete(sorted[10]!);
  ids.add("inst_");
  assert.deepEqual([...ids.after(sorted[8])].slice(0, 2), [sorted[9], sorted[11]]);
  assert.equal([...ids.after()][0], "inst_");
});
