import { test } from "node:test";
import assert from "node:assert/strict";
import { decodePart, encodePart, partOf, slugBefore, snapshotsKept } from "../src/eventstore/snapshotLayout.ts";
import type { Instance } from "../src/contract/schemas.ts";

test("snapshot parts - lines round-trip sorted by subject; text that is not a part is refused", () => {
  const lines = new Map([
    ["registry.events.instance.b", JSON.stringify({ id: "b", tags: ["tab\tand\nnewline"] })],
    ["registry.events.instance.a", "{}"],
  ]);
  const text = encodePart(lines);
  assert.ok(text.startsWith("registry.events.instance.a\t{}\n"), "sorted: the same state gives the same bytes, so the same digest");
  assert.deepEqual(decodePart(text), lines);
  assert.deepEqual(decodePart(""), new Map());
  for (const junk of ["no tab\n", "subject\tno newline", "\n\t"]) assert.equal(decodePart(junk), undefined, JSON.stringify(junk));
});

test("snapshot parts - a slug's instances share one part in every process; definitions and nodes have one each", () => {
  assert.equal(partOf("instance", "orders", 256), partOf("instance", "orders", 256));
  assert.match(partOf("instance", "orders", 256), /^instance\.\d+$/);
  assert.equal(partOf("instance", undefined, 8), partOf("instance", "", 8));
  const used = new Set(Array.from({ length: 1000 }, (_, i) => partOf("instance", `svc-${i}`, 16)));
  assert.equal(used.size, 16, "slugs spread over every shard");
  assert.equal(partOf("definition", "x", 8), "definition");
  assert.equal(partOf("node", undefined, 8), "node");
});

test("snapshot parts - the slug an instance had before an event: a move says where from, a removal where it was", () => {
  const instance = { id: "i", slug: "new" } as Instance;
  assert.equal(slugBefore({ type: "InstanceUpdated", data: { instance, changed: ["slug"], movedFrom: { slug: "old" } } }), "old");
  assert.equal(slugBefore({ type: "InstanceUpdated", data: { instance, changed: ["slug"], movedFrom: {} } }), undefined, "from no slug");
  assert.equal(slugBefore({ type: "InstanceUpdated", data: { instance, changed: ["tags"] } }), "new");
  assert.equal(slugBefore({ type: "InstanceRemoved", data: { id: "i", slug: "gone" } }), "gone");
});

test("snapshot pruning - every snapshot of the last D days, and the newest N whatever their age", () => {
  const now = new Date("2026-12-04T12:00:00Z");
  const at = (iso: string, seq: number) => ({ seq, writtenAt: iso });
  const all = [
    at("2026-10-01T01:00:00Z", 1), // older than D days, not among the newest: dropped
    at("2026-11-01T01:00:00Z", 2), // dropped
    at("2026-11-30T03:00:00Z", 3), // within D days
    at("2026-12-02T09:00:00Z", 4),
    at("2026-12-04T10:00:00Z", 5),
  ];
  assert.deepEqual([...snapshotsKept(all, now, { newest: 2, days: 7 })].map((m) => m.seq).sort(), [3, 4, 5]);
  assert.deepEqual([...snapshotsKept(all, now, { newest: 4, days: 0 })].map((m) => m.seq).sort(), [2, 3, 4, 5], "the newest N, however old");
  assert.equal(snapshotsKept([at("not a time", 9)], now, { newest: 0, days: 400 }).size, 0, "an unreadable time is not within any span");
});
