import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../src/contract/schemas.ts";
import { compactInstance, interner } from "../src/readmodels/compact.ts";

const parsed = (n: number): Instance =>
  JSON.parse(
    JSON.stringify({
      id: `inst_${n}`, url: `http://127.0.0.1:${10000 + n}`, scheme: "http", host: "127.0.0.1", ip: "127.0.0.1", port: 10000 + n,
      slug: "user-svc", deploymentId: "depl_1", tags: ["blue", "canary"], status: "Healthy", statusCause: "registered",
      lastHeartbeat: "2026-11-24T10:00:00.000Z", createdAt: "2026-11-24T10:00:00.000Z", updatedAt: "2026-11-24T10:00:00.000Z",
    }),
  ) as Instance;

test("compact - an instance reads the same after compaction, field for field and in the same order", () => {
  const pool = interner();
  const before = JSON.stringify(parsed(1));
  assert.equal(JSON.stringify(compactInstance(parsed(1), pool)), before);
});

test("compact - equal tag lists are one shared array, frozen so that no reader can change another instance's tags", () => {
  const pool = interner();
  const a = compactInstance(parsed(1), pool);
  const b = compactInstance(parsed(2), pool);
  assert.equal(a.tags, b.tags);
  assert.ok(Object.isFrozen(a.tags));
  assert.throws(() => a.tags.push("x"), TypeError);
  assert.notEqual(compactInstance({ ...parsed(3), tags: ["other"] }, pool).tags, a.tags);
});
