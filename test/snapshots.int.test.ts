/**
 * Issue 27, snapshots: time travel starts from the newest trusted snapshot before `asOf` and
 * answers exactly as a fold of the whole stream does; a snapshot that is unreadable or does
 * not match its stamp is skipped (logged, counted) and the stream answers; a snapshot writes
 * only the parts its events touched; one process writes them at a time, on its own; they are
 * pruned by the keep rule.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { defaultConfig, type Config } from "../src/config.ts";
import { namesFor } from "../src/contract/names.ts";
import { stateAsOf } from "../src/eventstore/timeTravel.ts";
import { snapshotStore } from "../src/eventstore/snapshotStore.ts";
import { unreadableCounter } from "../src/unreadable.ts";
import type { Manifest } from "../src/eventstore/snapshotLayout.ts";
import { silentLog, startRegistryOn, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { metricValue } from "./harness/metrics.ts";
import { until } from "./harness/until.ts";

const names = namesFor("registry");
/** Snapshots every 15 events, written when the test asks (the writer's own tick is an hour away). */
const policy = (over: Partial<Config["snapshots"]> = {}): Config["snapshots"] => ({ ...defaultConfig().snapshots, everyEvents: 15, shards: 8, checkMs: 3_600_000, keep: { newest: 50, days: 0 }, chain: 3, ...over });
const SLUGS = ["snap-a", "snap-b", "snap-c", "snap-d"];

async function lastSeq(r: TestRegistry): Promise<number> {
  return (await r.jsm.streams.info(names.eventsStream)).state.last_seq;
}

async function manifests(r: TestRegistry): Promise<{ key: string; manifest: Manifest }[]> {
  const kv = await new Kvm(r.nc).open(names.snapshotsBucket);
  const found = [];
  for await (const key of await kv.keys("manifest.>")) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") found.push({ key, manifest: entry.json<Manifest>() });
  }
  return found.sort((a, b) => a.manifest.seq - b.manifest.seq);
}

async function partKeys(r: TestRegistry): Promise<string[]> {
  const kv = await new Kvm(r.nc).open(names.snapshotsBucket);
  const keys = [];
  for await (const key of await kv.keys("part.>")) keys.push(key);
  return keys;
}

/** The fold of the whole stream, without snapshots: what every answer must equal. */
async function fromTheStream(r: TestRegistry, asOf: string | number, slug?: string) {
  const past = await stateAsOf({ js: jetstream(r.nc), names, unreadable: unreadableCounter(silentLog) }, asOf, { entity: "instance", ...(slug ? { slug } : {}) });
  return past.instances.sort((a, b) => a.id.localeCompare(b.id));
}

async function listAsOf(r: TestRegistry, asOf: string | number, slug?: string) {
  const reply = await r.call("instance.list", { asOf, ...(slug ? { slug } : {}), limit: 1000 });
  assert.equal(reply.code, undefined, JSON.stringify(reply.body));
  return (reply.body as { instances: { id: string }[] }).instances;
}

/** Some history: registrations in four slugs, status changes, moves between slugs, removals. */
async function history(r: TestRegistry, round: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const slug = SLUGS[i % SLUGS.length]!;
    ids.push((await r.call("instance.register", { url: `http://127.0.0.${round + 1}:${20000 + i}`, slug, tags: [`round-${round}`] })).body.instance.id);
  }
  for (let i = 0; i < 12; i += 2) await r.call("instance.status", { id: ids[i], status: "Unhealthy" });
  // Moves: the same URL registered under another slug.
  await r.call("instance.register", { url: `http://127.0.0.${round + 1}:20001`, slug: "snap-c" });
  await r.call("instance.register", { url: `http://127.0.0.${round + 1}:20002`, slug: "snap-a" });
  await r.call("instance.remove", { id: ids[3] });
  await r.call("definition.save", { definition: { id: `snap-def-${round}`, image: { name: `snap:${round}` } } });
  if (round > 0) await r.call("definition.remove", { id: `snap-def-${round - 1}` });
  return ids;
}

describe("snapshots (issue 27)", () => {
  let r: TestRegistry;
  const marks: (string | number)[] = [];

  before(async () => {
    r = await startTestRegistry({ snapshots: policy() });
    await until(async () => (await r.call("node.list", {})).body.nodes.length === 1, "the registry's own node to join");
    for (let round = 0; round < 3; round++) {
      marks.push(await lastSeq(r), new Date().toISOString());
      await history(r, round);
      await r.registry.snapshots.catchUp();
    }
    marks.push(await lastSeq(r), new Date().toISOString());
    await history(r, 3); // after the last snapshot
    marks.push(await lastSeq(r));
  });
  after(async () => r.stop());

  test("lists with asOf start from a snapshot and answer what a fold of the whole stream answers, for every slug and for all", async () => {
    const written = await manifests(r);
    assert.ok(written.length >= 3, `snapshots were written (${written.length})`);
    const usedBefore = await metricValue(r.registry.httpUrl!, "registry_snapshots_total", 'outcome="used"');
    for (const asOf of marks) {
      for (const slug of [...SLUGS, undefined]) {
        const expected = await fromTheStream(r, asOf, slug);
        assert.deepEqual(await listAsOf(r, asOf, slug), expected, `asOf ${asOf}, slug ${slug ?? "(all)"}`);
      }
    }
    // Every mark past the first snapshot started from one.
    const after = marks.filter((m) => (typeof m === "number" ? m >= written[0]!.manifest.seq : Date.parse(m) >= Date.parse(written[0]!.manifest.at))).length;
    assert.ok((await metricValue(r.registry.httpUrl!, "registry_snapshots_total", 'outcome="used"')) - usedBefore >= after * (SLUGS.length + 1), "the answers started from snapshots");
    // Services, nodes and definitions as of then come from the same fold.
    const services = await r.call("service.list", { asOf: marks.at(-1) });
    assert.deepEqual((services.body as { services: { slug: string }[] }).services.map((s) => s.slug), [...SLUGS].sort());
    for (const entity of ["node", "definition"] as const) {
      const listed = (await r.call(`${entity}.list`, { asOf: marks.at(-1) })).body as Record<string, unknown[]>;
      const folded = await stateAsOf({ js: jetstream(r.nc), names, unreadable: unreadableCounter(silentLog) }, marks.at(-1)!, { entity });
      assert.deepEqual(listed[`${entity}s`], folded[`${entity}s`], entity);
      assert.equal(listed[`${entity}s`]!.length, 1, `one ${entity} then`);
    }
  });

  test("a delta writes only the parts its events touched; every few a full snapshot folds the chain, and answers stay the stream's", async () => {
    const one = (await r.call("instance.list", { slug: "snap-b", limit: 1 })).body.instances[0];
    const flap = async (times: number) => {
      for (let i = 0; i < times; i++) await r.call("instance.status", { id: one.id, status: i % 2 ? "Healthy" : "Unhealthy" });
    };
    await flap(16);
    const before = (await r.registry.snapshots.catchUp())!; // holds everything written so far
    assert.ok(before, "a snapshot was due");
    await flap(16);
    const partsBefore = new Set(await partKeys(r));
    const next = (await r.registry.snapshots.catchUp())!;
    assert.ok(next, "a snapshot was due after 16 events");
    const { partOf } = await import("../src/eventstore/snapshotLayout.ts");
    if (next.kind === "delta") {
      assert.equal(next.after, before.seq);
      // The registry's own node may have reported meanwhile: its part aside, the part of snap-b alone.
      assert.deepEqual(Object.keys(next.parts).filter((p) => p !== "node"), [partOf("instance", "snap-b", next.shards)]);
      const written = (await partKeys(r)).filter((k) => !partsBefore.has(k) && !k.startsWith(`part.${next.parts.node?.digest}.`));
      assert.equal(written.length, next.parts[partOf("instance", "snap-b", next.shards)]!.chunks, "only that part's chunks were written");
    }
    // Chains of at most three: a full snapshot at least every third, each delta after the one before it.
    const all = await manifests(r);
    assert.ok(all.some((m) => m.manifest.kind === "full") && all.some((m) => m.manifest.kind === "delta"), all.map((m) => m.manifest.kind).join());
    for (let i = 0; i < all.length; i++) {
      const { manifest } = all[i]!;
      if (manifest.kind === "delta") assert.equal(manifest.after, all[i - 1]!.manifest.seq);
      const run = all.slice(0, i + 1).reverse().findIndex((m) => m.manifest.kind === "full");
      assert.ok(run >= 0 && run < 3, `at most three in a chain (${all.map((m) => m.manifest.kind).join()})`);
    }
    for (const m of all) for (const slug of SLUGS) assert.deepEqual(await listAsOf(r, m.manifest.seq, slug), await fromTheStream(r, m.manifest.seq, slug), `at ${m.key}, ${slug}`);
  });

  test("a snapshot that cannot be trusted is skipped, logged and counted: the stream answers, and the same as before", async () => {
    const kv = await new Kvm(r.nc).open(names.snapshotsBucket);
    const newest = (await manifests(r)).at(-1)!;
    const asOf = await lastSeq(r);
    const expected = await fromTheStream(r, asOf, "snap-a");
    const unreadable = async () => (await r.call("health.status")).body.unreadable.snapshots as number;
    const skipped = await unreadable();

    // A part whose bytes do not match its digest.
    const part = newest.manifest.parts[Object.keys(newest.manifest.parts).find((p) => p.startsWith("instance."))!]!;
    const slugOfPart = await (async () => {
      for (const slug of SLUGS) {
        const { partOf } = await import("../src/eventstore/snapshotLayout.ts");
        if (newest.manifest.parts[partOf("instance", slug, newest.manifest.shards)] === part) return slug;
      }
      return undefined;
    })();
    assert.ok(slugOfPart, "a slug's part to spoil");
    await kv.put(`part.${part.digest}.0`, "not gzip at all");
    assert.deepEqual(await listAsOf(r, asOf, slugOfPart), await fromTheStream(r, asOf, slugOfPart));
    assert.ok((await unreadable()) > skipped, "counted in health.status unreadable.snapshots");

    // A manifest stamped with an event the stream does not hold there, one past the stream's end, and one that is not JSON.
    const seq = (await manifests(r)).at(-1)!.manifest.seq;
    const counted = await unreadable(); // before they are written: the registry follows the manifests, and counts one as it comes
    const forged = { ...newest.manifest, seq: seq + 1, subject: "registry.events.instance.not-there" };
    await kv.put(`manifest.${String(seq + 1).padStart(16, "0")}`, JSON.stringify(forged));
    await kv.put(`manifest.${String(asOf + 1000).padStart(16, "0")}`, JSON.stringify({ ...newest.manifest, seq: asOf + 1000 }));
    await kv.put(`manifest.${String(asOf + 1001).padStart(16, "0")}`, "{ not json");
    await until(async () => (await unreadable()) > counted, "the manifest that is not JSON counted as the registry's watch of the manifests reads it");
    assert.deepEqual(await listAsOf(r, asOf, "snap-a"), expected);
    assert.deepEqual(await listAsOf(r, asOf + 2000, "snap-a"), expected, "asOf past the end: the newest trusted snapshot, not the forged one past the stream");
    assert.ok((await unreadable()) >= counted + 3, `the forged manifests were counted (${counted} -> ${await unreadable()})`);
    await Promise.all([seq + 1, asOf + 1000, asOf + 1001].map((s) => kv.purge(`manifest.${String(s).padStart(16, "0")}`)));
  });

  test("snapshots are pruned by the keep rule: the newest N kept, and parts no kept snapshot names removed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-snap-"));
    const other = await startRegistryOn(r.server.url, dir, { nodeId: "pruning-node", snapshots: policy({ keep: { newest: 2, days: 0 } }) });
    try {
      // The first process holds the writer lease (taken to write one): the second writes nothing until it lapses.
      const id = (await listAsOf(r, await lastSeq(r), "snap-d"))[0]!.id;
      const flap = async () => {
        for (let i = 0; i < 16; i++) await r.call("instance.status", { id, status: i % 2 ? "Healthy" : "Unhealthy" });
      };
      await flap();
      assert.ok(await r.registry.snapshots.catchUp());
      await flap();
      assert.equal(await other.registry.snapshots.catchUp(), undefined, "another process holds the lease");
      // Its lease lapses a minute after its last renewal; free it by hand to go on sooner.
      const kv = await new Kvm(other.nc).open(names.snapshotsBucket);
      await kv.purge("writer");
      const beforeKeys = (await manifests(r)).map((m) => m.key);
      const before = beforeKeys.length;
      assert.ok(await other.registry.snapshots.catchUp(), "the other process writes once the lease is free");
      const kept = await manifests(r);
      // The newest two, and the snapshots their chains need: nothing older.
      const newest = kept.slice(-2);
      const needed = new Set(newest.map((m) => m.key));
      for (let m: (typeof kept)[number] | undefined = newest[0]; m?.manifest.kind === "delta"; ) {
        m = kept.find((k) => k.manifest.seq === m!.manifest.after);
        assert.ok(m, "a kept delta's chain is kept");
        needed.add(m.key);
      }
      assert.deepEqual(kept.map((m) => m.key), [...needed].sort(), "nothing but the newest two and their chain");
      assert.ok(kept.length < before, `some were removed (${before} -> ${kept.length})`);
      const named = new Set(kept.flatMap((m) => Object.values(m.manifest.parts).map((p) => p.digest)));
      for (const key of await partKeys(r)) assert.ok(named.has(key.split(".")[1]!), `${key} is named by a kept snapshot`);
      // Removed manifests are purged as KV entries (a marker the watches see); a later prune removes the markers once old enough.
      const removed = beforeKeys.filter((k) => !kept.some((m) => m.key === k));
      const manifestSubjects = async () => Object.keys((await r.jsm.streams.info(`KV_${names.snapshotsBucket}`, { subjects_filter: `$KV.${names.snapshotsBucket}.manifest.>` })).state.subjects ?? {}).sort();
      assert.ok((await manifestSubjects()).some((s) => removed.some((k) => s.endsWith(`.${k}`))), "the markers are there after the prune");
      const store = snapshotStore({ nc: r.nc, js: jetstream(r.nc), jsm: r.jsm, names, unreadable: unreadableCounter(silentLog), log: silentLog, markerAgeMs: 0 });
      await store.prune([], kept, false);
      store.stop();
      assert.deepEqual(await manifestSubjects(), kept.map((m) => `$KV.${names.snapshotsBucket}.${m.key}`).sort(), "no marker left, every kept manifest there");
      // The first process follows the manifests (a watch) and sees the other's removals: answers in the removed span stay right.
      for (const seq of [kept[0]!.manifest.seq - 1, Math.floor(kept[0]!.manifest.seq / 2)]) assert.deepEqual(await listAsOf(r, seq, "snap-d"), await fromTheStream(r, seq, "snap-d"), `at ${seq}`);
    } finally {
      await other.registry.stop();
      await other.nc.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("with the snapshot bucket gone, lists with asOf are answered from the stream, and the failure is counted", async () => {
    const asOf = await lastSeq(r);
    const expected = await fromTheStream(r, asOf, "snap-a");
    await r.jsm.streams.delete(`KV_${names.snapshotsBucket}`);
    const unreadable = async () => (await r.call("health.status")).body.unreadable.snapshots as number;
    const before = await unreadable();
    assert.deepEqual(await listAsOf(r, asOf, "snap-a"), expected);
    assert.ok((await unreadable()) > before, "counted");
  });
});

describe("the snapshot writer runs on its own", () => {
  test("every REGISTRY_SNAPSHOT_EVENTS events, a snapshot is written without anyone asking", async () => {
    const r = await startTestRegistry({ snapshots: policy({ everyEvents: 20, checkMs: 100 }) });
    try {
      for (let i = 0; i < 25; i++) await r.call("instance.register", { url: `http://127.0.0.1:${21000 + i}`, slug: "snap-auto" });
      const first = await until(async () => (await manifests(r)).find((m) => m.manifest.seq >= 20), "a snapshot of the first 20 events");
      assert.equal(first.manifest.streamCreated, (await r.jsm.streams.info(names.eventsStream)).created);
      assert.equal(await metricValue(r.registry.httpUrl!, "registry_snapshots_total", 'outcome="written"'), (await manifests(r)).length);
    } finally {
      await r.stop();
    }
  });
});
