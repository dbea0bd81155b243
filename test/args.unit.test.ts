import { test } from "node:test";
import assert from "node:assert/strict";
import { bytes, parseArgs, percent, UsageError } from "../src/cli/args.ts";

const parsed = (argv: string[]) => parseArgs(argv, { values: ["size", "share"], boolean: ["healthy"] });

test("args - sizes take bytes or a unit: decimal G/M/K(B), binary Gi/Mi/Ki(B)", () => {
  for (const [raw, expected] of [["1073741824", 1073741824], ["1G", 1e9], ["1GB", 1e9], ["1Gi", 2 ** 30], ["512Mi", 512 * 2 ** 20], ["2GiB", 2 * 2 ** 30], ["1.5K", 1500], ["7b", 7]] as const) {
    assert.equal(bytes(parsed(["--size", raw]), "size"), expected, raw);
  }
  for (const raw of ["lots", "1Q", "-1G", "1 G B"]) {
    assert.throws(() => bytes(parsed(["--size", raw]), "size"), (err: unknown) => err instanceof UsageError && /--size must be a size such as 1073741824, 1G, 512Mi or 2GiB/.test(err.message), raw);
  }
});

test("args - percentages with or without %", () => {
  assert.equal(percent(parsed(["--share", "80%"]), "share"), 80);
  assert.equal(percent(parsed(["--share", "12.5"]), "share"), 12.5);
  assert.throws(() => percent(parsed(["--share", "most"]), "share"), UsageError);
});

test("args - a boolean flag takes true or false after it or after =, and nothing else", () => {
  assert.equal(parsed(["--healthy"]).flags.healthy, true);
  assert.equal(parsed(["--healthy", "false"]).flags.healthy, false);
  assert.equal(parsed(["--healthy=false"]).flags.healthy, false);
  assert.deepEqual(parsed(["--healthy", "user-svc"]).positionals, ["user-svc"]);
  assert.throws(() => parsed(["--healthy=maybe"]), UsageError);
});
