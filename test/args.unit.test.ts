import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import { bool, bytes, count, jsonList, percent, sequenceOrTime, time } from "../src/cli/args.ts";

const refused = (message: RegExp) => (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message);

test("args - sizes take bytes or a unit: decimal G/M/K(B), binary Gi/Mi/Ki(B)", () => {
  for (const [raw, expected] of [["1073741824", 1073741824], ["1G", 1e9], ["1GB", 1e9], ["1Gi", 2 ** 30], ["512Mi", 512 * 2 ** 20], ["2GiB", 2 * 2 ** 30], ["1.5K", 1500], ["7b", 7]] as const) {
    assert.equal(bytes(raw), expected, raw);
  }
  for (const raw of ["lots", "1Q", "-1G", "1 G B"]) assert.throws(() => bytes(raw), refused(/a size such as 1073741824, 1G, 512Mi or 2GiB/), raw);
});

test("args - percentages with or without %", () => {
  assert.equal(percent("80%"), 80);
  assert.equal(percent("12.5"), 12.5);
  assert.throws(() => percent("most"), refused(/percentage/));
});

test("args - a boolean is true or false, and the bare flag is true", () => {
  assert.equal(bool(true), true);
  assert.equal(bool("false"), false);
  assert.throws(() => bool("maybe"), refused(/true or false/));
});

test("args - counts are whole numbers; JSON lists hold strings; times are RFC 3339 or a duration back", () => {
  assert.equal(count("30"), 30);
  for (const raw of ["-1", "1.5", "", "ten"]) assert.throws(() => count(raw), refused(/whole number/), raw);
  assert.deepEqual(jsonList('["b"]', ["a"]), ["a", "b"]);
  assert.throws(() => jsonList("[1]"), refused(/list of strings/));
  assert.equal(time("1h", Date.parse("2026-11-24T12:00:00Z")), "2026-11-24T11:00:00.000Z");
  assert.throws(() => time("yesterday"), refused(/a time such as/));
  assert.equal(sequenceOrTime("42"), 42);
  assert.throws(() => sequenceOrTime("yesterday"), /It must be an event sequence \(a whole number\), a time such as 2026-11-24T10:00:00Z or a duration such as 1h\./);
});
