import { test } from "node:test";
import assert from "node:assert/strict";
import { RegistryError } from "../src/contract/errors.ts";
import { MAX_ATTEMPTS, execute } from "../src/commands/execute.ts";
import { projectInBackground } from "../src/commands/writePath.ts";
import { definitionDecider } from "../src/domain/definition.ts";
import { VersionConflict, type EventStore, type StoredEvent } from "../src/eventstore/eventStore.ts";

// The write path's retry logic against an in-memory EventStore port (the NATS adapter is
// covered by the integration tests); here every append can be made to lose its race.
function memoryStore(opts: { alwaysConflict?: boolean } = {}) {
  const events: StoredEvent[] = [];
  let appends = 0;
  const store: EventStore = {
    async readLatest(subject) {
      return events.filter((e) => e.subject === subject).at(-1) ?? null;
    },
    async latestReadableBefore() {
      return null;
    },
    async append(subject, envelope, expectedSeq) {
      appends++;
      const latest = events.filter((e) => e.subject === subject).at(-1)?.seq ?? 0;
      if (opts.alwaysConflict || latest !== expectedSeq) throw new VersionConflict(subject, expectedSeq);
      events.push({ subject, envelope, seq: events.length + 1 });
      return { seq: events.length, duplicate: false };
    },
  };
  return { store, events, appends: () => appends };
}

const save = { type: "SaveDefinition" as const, data: { definition: { id: "d", image: { name: "x" } } }, metadata: { now: "2026-01-01T00:00:00.000Z" } };

test("execute - appends the decided event and projects it before returning", async () => {
  const { store, events } = memoryStore();
  const projected: number[] = [];
  const result = await execute({ store, project: async (_e, seq) => void projected.push(seq) }, definitionDecider, "s.d", save, { requestId: "req-1" });
  assert.deepEqual(result, { state: save.data.definition, version: 1, written: true, events: [{ type: "DefinitionSaved", data: save.data }] });
  assert.deepEqual(projected, [1]);
  assert.equal(events[0]?.envelope?.metadata.requestId, "req-1");
});

test("execute - a retry of the same command with the same request id writes nothing and answers the stored state", async () => {
  const { store, events } = memoryStore();
  const deps = { store, project: async () => undefined };
  await execute(deps, definitionDecider, "s.d", save, { requestId: "req-1" });
  const again = await execute(deps, definitionDecider, "s.d", { ...save, metadata: { now: "2026-01-01T00:00:05.000Z" } }, { requestId: "req-1" });
  assert.equal(events.length, 1);
  assert.deepEqual(again.state, save.data.definition);
  assert.equal(again.written, false, "a retry of a written request appends nothing");
  assert.deepEqual(again.events.map((e) => e.type), ["DefinitionSaved"], "and answers with the event its first try wrote");
});

test("execute - a different command under a reused request id is written", async () => {
  const { store, events } = memoryStore();
  const deps = { store, project: async () => undefined };
  await execute(deps, definitionDecider, "s.d", save, { requestId: "req-1" });
  const changed = { ...save, data: { definition: { id: "d", image: { name: "changed" } } } };
  const result = await execute(deps, definitionDecider, "s.d", changed, { requestId: "req-1" });
  assert.equal(events.length, 2);
  assert.deepEqual(result.state, changed.data.definition);
});

test("execute - a write that keeps losing its race ends in 409 after bounded attempts", async () => {
  const { store, appends } = memoryStore({ alwaysConflict: true });
  await assert.rejects(
    execute({ store, project: async () => undefined }, definitionDecider, "s.d", save),
    (err: unknown) => err instanceof RegistryError && err.code === 409 && /retry the request/.test(err.message),
  );
  assert.equal(appends(), MAX_ATTEMPTS);
});

test("execute - a stale hint costs one lost race; the decision is then taken on the latest event", async () => {
  const { store, events, appends } = memoryStore();
  const deps = { store, project: async () => undefined };
  await execute(deps, definitionDecider, "s.d", save);
  const changed = { ...save, data: { definition: { id: "d", image: { name: "v2" } } } };
  const result = await execute(deps, definitionDecider, "s.d", changed, { hint: () => ({ state: null, version: 0 }) });
  assert.equal(result.version, 2);
  assert.equal(events.length, 2);
  assert.equal(appends(), 3, "one append lost on the stale hint, one taken");
});

test("execute - a refusal decided on the hint is checked against the latest event", async () => {
  const { store } = memoryStore();
  const deps = { store, project: async () => undefined };
  await execute(deps, definitionDecider, "s.d", save);
  const remove = { type: "RemoveDefinition" as const, data: { id: "d" }, metadata: save.metadata };
  const result = await execute(deps, definitionDecider, "s.d", remove, { hint: () => ({ state: null, version: 0 }) });
  assert.equal(result.written, true, "the hint said there was nothing to remove; the stream said otherwise");
});

test("execute - with projections in the background (REGISTRY_REPLY_AFTER=append) a write is answered before its projection ends, and a failed one is reported", async () => {
  let finishProjection: (() => void) | undefined;
  const failures: number[] = [];
  const slow = projectInBackground(() => new Promise<void>((resolve) => (finishProjection = resolve)), (_err, seq) => failures.push(seq));
  await slow({ type: "DefinitionRemoved", data: { id: "d" } } as never, 7); // resolves although the projection has not
  assert.ok(finishProjection, "the projection was started");
  finishProjection();
  await projectInBackground(() => Promise.reject(new Error("kv down")), (_err, seq) => failures.push(seq))({ type: "DefinitionRemoved", data: { id: "d" } } as never, 8);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(failures, [8]);
});

test("execute - a stored event whose projection fails (a KV write timed out) is answered 503 saying it is stored, never 500, and is not decided again", async () => {
  const { store, events } = memoryStore();
  const failing = async () => {
    throw new Error("publishing to $KV.registry_definitions.d timed out after 5000 ms");
  };
  const hint = () => ({ state: null, version: 0 });
  await assert.rejects(execute({ store, project: failing }, definitionDecider, "s.d", save, { requestId: "req-9", hint }), (err: RegistryError) => {
    assert.ok(err instanceof RegistryError);
    assert.equal(err.code, 503);
    assert.match(err.message, /the write was stored \(event 1 on s\.d\).*Retry with the same Nats-Msg-Id/);
    return true;
  });
  assert.equal(events.length, 1, "appended once");
});
