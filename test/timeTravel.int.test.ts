/**
 * Issue 22 point 2: time travel (lists with asOf) is a pass over the event stream. At most
 * REGISTRY_TIME_TRAVEL_CONCURRENCY run at once; one stops reading when its caller's connection
 * closes or at REGISTRY_TIME_TRAVEL_TIMEOUT_MS; ordinary reads are answered while one runs.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { Registry } from "../src/app/registry.ts";
import { startRegistryOn, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { metricValue } from "./harness/metrics.ts";
import { until } from "./harness/until.ts";

/** Events in the history: enough that folding them takes far longer than the few requests a test sends meanwhile. */
const HISTORY = 20_000;

describe("time travel has bounds (issue 22 point 2)", () => {
  let r: TestRegistry;
  let base: string;
  let id: string;
  let lastSeq: number;
  /** A second registry process on the same stream, with a short deadline. */
  let hasty: { registry: Registry; nc: NatsConnection; dir: string };

  before(async () => {
    r = await startTestRegistry({ timeTravelConcurrency: 1, timeTravelTimeoutMs: 120_000, eventsHistoryPerEntity: 100_000 });
    base = r.registry.httpUrl!;
    id = (await r.call("instance.register", { url: "http://127.0.0.1:32001", slug: "tt-svc" })).body.instance.id;
    // A long history: copies of the instance's latest event on its own subject, each one a readable event.
    const subject = `registry.events.instance.${id}`;
    const event = await r.jsm.streams.getMessage("REGISTRY_EVENTS", { last_by_subj: subject });
    const js = jetstream(r.nc);
    for (let sent = 0; sent < HISTORY; sent += 1000) {
      const acks = await Promise.all(Array.from({ length: 1000 }, () => js.publish(subject, event!.data)));
      lastSeq = acks.at(-1)!.seq;
    }
    const dir = await mkdtemp(join(tmpdir(), "registry-tt-"));
    hasty = { ...(await startRegistryOn(r.server.url, dir, { nodeId: "hasty-node", timeTravelTimeoutMs: 100, eventsHistoryPerEntity: 100_000 })), dir };
  });
  after(async () => {
    await hasty.registry.stop();
    await hasty.nc.close();
    await rm(hasty.dir, { recursive: true, force: true });
    await r.stop();
  });

  test("past the cap an asOf list is refused with 503; a get is answered while one runs; closing the connection stops it before the end", async () => {
    const caller = new AbortController();
    const first = fetch(`${base}/registry-svc/instances?asOf=${lastSeq}`, { signal: caller.signal }).catch((err: Error) => err);
    await until(async () => (await metricValue(base, "registry_time_travel_events_read_total")) > 0, "the first asOf list to be reading");

    const second = await fetch(`${base}/registry-svc/instances?asOf=${lastSeq}`);
    assert.equal(second.status, 503);
    const { error } = (await second.json()) as { error: { message: string } };
    assert.match(error.message, /1 time-travel queries \(asOf\) are running, the most this registry runs at once \(REGISTRY_TIME_TRAVEL_CONCURRENCY\); retry in a moment/);

    const get = await fetch(`${base}/registry-svc/instance/${id}`);
    assert.equal(get.status, 200, "an ordinary read is answered");
    assert.equal(await metricValue(base, "registry_time_travel_running"), 1, "while the first asOf list still runs");

    caller.abort(); // the caller gives up: its connection closes
    assert.ok((await first) instanceof Error);
    await until(async () => (await metricValue(base, "registry_time_travel_total", 'outcome="stopped"')) === 1, "the abandoned asOf list to stop");
    const read = await metricValue(base, "registry_time_travel_events_read_total");
    assert.ok(read < lastSeq, `it stopped after ${read} of ${lastSeq} events, before the end`);
    assert.equal(await metricValue(base, "registry_time_travel_running"), 0);
    assert.equal(await metricValue(base, "registry_time_travel_total", 'outcome="refused"'), 1);

    // With the place free again, an asOf list is answered (as of the registration, a short read).
    const full = await fetch(`${base}/registry-svc/instances?asOf=${lastSeq - HISTORY}&slug=tt-svc`);
    assert.equal(full.status, 200);
    assert.deepEqual(((await full.json()) as { instances: { id: string }[] }).instances.map((i) => i.id), [id]);
  });

  test("an asOf list stops reading at REGISTRY_TIME_TRAVEL_TIMEOUT_MS, says so, and has not read the whole history", async () => {
    const res = await fetch(`${hasty.registry.httpUrl}/registry-svc/instances?asOf=${lastSeq}`);
    assert.equal(res.status, 503);
    const { error } = (await res.json()) as { error: { message: string } };
    assert.match(error.message, /time travel stopped at its deadline of 100 ms \(REGISTRY_TIME_TRAVEL_TIMEOUT_MS\) after \d+ events of the history/);
    const read = await metricValue(hasty.registry.httpUrl!, "registry_time_travel_events_read_total");
    assert.ok(read < lastSeq, `it stopped after ${read} of ${lastSeq} events`);
    assert.equal(await metricValue(hasty.registry.httpUrl!, "registry_time_travel_total", 'outcome="stopped"'), 1);
  });
});
