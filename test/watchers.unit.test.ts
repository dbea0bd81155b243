import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, configFromEnv } from "../src/config.ts";
import { WatcherBudget } from "../src/http/watchers.ts";

test("watchers - past the most watchers one more is refused; a place frees when one leaves", () => {
  const budget = new WatcherBudget({ maxWatchers: 2, bufferBytes: 100, totalBytes: 150 });
  const a = budget.admit()!;
  const b = budget.admit()!;
  assert.equal(budget.admit(), undefined);
  assert.deepEqual(budget.counts(), { connected: 2, bufferedBytes: 0, refused: 1, cut: { buffer: 0, total: 0 } });
  a.leave();
  a.leave(); // idempotent
  assert.ok(budget.admit());
  b.leave();
  assert.equal(budget.counts().connected, 1);
});

test("watchers - one over its own buffer is cut; over the total, whoever has anything unread is, and readers that keep up are not", () => {
  const budget = new WatcherBudget({ maxWatchers: 10, bufferBytes: 100, totalBytes: 150 });
  const slow = budget.admit()!;
  const behind = budget.admit()!;
  const reader = budget.admit()!;
  assert.equal(slow.buffered(101), "buffer");
  slow.leave();
  assert.equal(budget.counts().bufferedBytes, 0, "a watcher that leaves frees its bytes");
  assert.equal(behind.buffered(90), undefined);
  assert.equal(reader.buffered(0), undefined);
  const another = budget.admit()!;
  assert.equal(another.buffered(80), "total", "170 unread in all, over 150");
  assert.equal(reader.buffered(0), undefined, "a reader with nothing unread stays");
  assert.equal(behind.buffered(95), "total");
  another.cut("total");
  behind.cut("total");
  assert.deepEqual(budget.counts().cut, { buffer: 0, total: 2 });
});

test("watchers and time travel - the limits come from the environment; a bad one is refused naming it", () => {
  const c = configFromEnv({ REGISTRY_WATCHERS_MAX: "7", REGISTRY_WATCH_BUFFER_BYTES: "1024", REGISTRY_WATCH_TOTAL_BYTES: "4096", REGISTRY_TIME_TRAVEL_CONCURRENCY: "3", REGISTRY_TIME_TRAVEL_TIMEOUT_MS: "900" });
  assert.deepEqual([c.watchersMax, c.watchBufferBytes, c.watchTotalBytes, c.timeTravelConcurrency, c.timeTravelTimeoutMs], [7, 1024, 4096, 3, 900]);
  for (const name of ["REGISTRY_WATCHERS_MAX", "REGISTRY_WATCH_BUFFER_BYTES", "REGISTRY_WATCH_TOTAL_BYTES", "REGISTRY_TIME_TRAVEL_CONCURRENCY", "REGISTRY_TIME_TRAVEL_TIMEOUT_MS"]) {
    assert.throws(() => configFromEnv({ [name]: "0" }), (err: Error) => err instanceof ConfigError && err.message.includes(`${name} "0" must be a positive whole number`));
  }
});
