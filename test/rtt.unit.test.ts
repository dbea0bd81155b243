import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../src/contract/schemas.ts";
import { RttProber, RttTable } from "../src/client/rtt.ts";
import { until } from "./harness/until.ts";

const instance = (n: number) => ({ id: `inst_${String(n).padStart(3, "0")}`, ip: "127.0.0.1", port: 20_000 + n, status: "Healthy" }) as Instance;

/** A probe that answers only when the test says, so what is in flight can be counted. */
function heldProbe() {
  const waiting: { port: number; answer: (ms: number | undefined) => void }[] = [];
  let peak = 0;
  return {
    waiting,
    peak: () => peak,
    probe: (target: { port: number }) =>
      new Promise<number | undefined>((answer) => {
        waiting.push({ port: target.port, answer });
        peak = Math.max(peak, waiting.length);
      }),
    answerAll(ms: (port: number) => number | undefined) {
      for (const w of waiting.splice(0)) w.answer(ms(w.port));
    },
  };
}

test("rtt - a thousand instances are probed at most eight at a time, each once, and every one gets measured", async () => {
  const held = heldProbe();
  const table = new RttTable();
  const prober = new RttProber(table, { timeoutMs: 1000, maxInFlight: 8, probe: held.probe });
  const instances = Array.from({ length: 1000 }, (_, n) => instance(n));
  prober.probe(instances, true);
  prober.probe(instances, true); // a second round while the first waits adds nothing
  assert.equal(held.waiting.length, 8);
  let probes = 0;
  while (probes < 1000) {
    await until(() => held.waiting.length > 0, `the next probes to start (${probes} so far)`);
    assert.ok(held.waiting.length <= 8, `${held.waiting.length} probes in flight`);
    probes += held.waiting.length;
    held.answerAll((port) => port - 20_000);
  }
  await until(() => instances.every((i) => table.get(i.id) !== undefined), "every instance to be measured");
  assert.equal(held.waiting.length, 0, "each instance probed once");
  assert.equal(held.peak(), 8);
  assert.equal(table.get("inst_042"), 42);
});

test("rtt - only the unmeasured are probed on a change, the gone are forgotten, and stop drops what waits", async () => {
  const held = heldProbe();
  const table = new RttTable();
  const prober = new RttProber(table, { timeoutMs: 1000, maxInFlight: 2, probe: held.probe });
  table.record("inst_001", 5);
  prober.probe([instance(1), instance(2)], false);
  assert.deepEqual(held.waiting.map((w) => w.port), [20_002]);
  held.answerAll(() => undefined); // refused: nothing recorded
  await until(() => held.waiting.length === 0, "the refused probe to end");
  prober.probe([instance(2), instance(3), instance(4), instance(5)], true);
  assert.equal(table.get("inst_001"), undefined, "an instance gone is forgotten");
  assert.deepEqual(held.waiting.map((w) => w.port), [20_002, 20_003]);
  prober.stop();
  held.answerAll(() => 7);
  await new Promise((r) => setImmediate(r));
  assert.equal(held.waiting.length, 0, "nothing more starts after stop");
  assert.equal(table.get("inst_002"), undefined, "a probe ending after stop records nothing");
});
