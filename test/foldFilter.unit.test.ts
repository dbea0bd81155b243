/**
 * Which folds of time travel read the event stream without a server filter (timeTravel.ts): on
 * nats-server 2.9 a filtered consumer first counts every message after its start (seconds at
 * millions of events), an unfiltered one starts at once but reads every entity's events.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { endsEarly, readsUnfiltered } from "../src/eventstore/timeTravel.ts";

test("fold filter - instances read unfiltered from a snapshot or to an early point; definitions and nodes always filtered by the server", () => {
  assert.equal(readsUnfiltered("instance", true, false), true, "from a snapshot: at most a snapshot's worth follows");
  assert.equal(readsUnfiltered("instance", false, true), true, "to a point in the stream's first tenth");
  assert.equal(readsUnfiltered("instance", false, false), false, "a fold that may run to the end: the server filters");
  for (const entity of ["definition", "node"] as const) {
    assert.equal(readsUnfiltered(entity, true, true), false, `${entity} events are rare: unfiltered would read every event`);
  }
});

test("fold filter - a fold ends early when its sequence, or the oldest snapshot after its time, lies in the stream's first tenth", () => {
  const stream = { firstSeq: 1001, lastSeq: 2_001_000 };
  assert.equal(endsEarly(150_000, stream, []), true);
  assert.equal(endsEarly(300_000, stream, []), false);
  const manifests = [
    { seq: 1_500_000, at: "2026-12-04T12:00:00.000Z" },
    { seq: 180_000, at: "2026-12-04T10:00:00.000Z" },
    { seq: 20_000, at: "2026-12-04T09:00:00.000Z" },
  ]; // newest first, as the store lists them
  assert.equal(endsEarly("2026-12-04T09:30:00.000Z", stream, manifests), true, "ends before the snapshot at 180,000");
  assert.equal(endsEarly("2026-12-04T11:00:00.000Z", stream, manifests), false, "ends before 1,500,000: most of the stream");
  assert.equal(endsEarly("2026-12-04T13:00:00.000Z", stream, manifests), false, "no snapshot after it: it may run to the end");
});
