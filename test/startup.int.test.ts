/**
 * What a newcomer meets first: `make run` says which server it uses and never quietly uses
 * another one; the process commands' --help prints help and does nothing else.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startNatsServer } from "./harness/natsServer.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** A loopback port nothing listens on. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

function run(file: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: root, env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

test("make run - a NATS_URL that does not answer is an error that says what to do, not a switch to another server", async () => {
  const url = `nats://127.0.0.1:${await closedPort()}`;
  const { code, stderr } = await run("bash", ["scripts/run.sh"], { NATS_URL: url });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`NATS_URL=${url} does not answer: start that server, or unset NATS_URL for a local one, or set REGISTRY_LOCAL_NATS=1`));
  assert.doesNotMatch(stderr, /started nats-server|using the NATS server/);
});

for (const command of ["serve", "agent", "rebuild"]) {
  test(`registry ${command} --help prints its help and does nothing else; a stray argument is exit 2`, async () => {
    // NATS_URL points nowhere: anything that tried to connect would fail instead of exiting 0.
    const env = { NATS_URL: `nats://127.0.0.1:${await closedPort()}` };
    const help = await run(process.execPath, ["--import", "tsx", "src/main.ts", command, "--help"], env);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^Usage: registry ${command} \\[options\\]\\n`));
    const stray = await run(process.execPath, ["--import", "tsx", "src/main.ts", command, "--bogus"], env);
    assert.equal(stray.code, 2);
    assert.equal(stray.stderr, "registry: unknown option '--bogus'\n");
    const extra = await run(process.execPath, ["--import", "tsx", "src/main.ts", command, "now"], env);
    assert.deepEqual([extra.code, extra.stderr], [2, `registry: too many arguments for '${command}'. Expected 0 arguments but got 1.\n`]);
  });
}

test("logs - readable lines on a terminal, JSON lines otherwise; LOG_FORMAT chooses; a bad LOG_FORMAT says what it takes", async () => {
  const server = await startNatsServer();
  try {
    const env = { NATS_URL: server.url, LOG_LEVEL: "info", LOG_FORMAT: "" };
    const piped = await run(process.execPath, ["--import", "tsx", "src/main.ts", "rebuild"], env);
    assert.equal(piped.code, 0, piped.stderr);
    const last = JSON.parse(piped.stdout.trim().split("\n").at(-1)!) as { msg: string; level: number };
    assert.deepEqual([last.level, last.msg], [30, "buckets rebuilt in place from the events; running registry processes follow on"]);
    // `script` gives the command a terminal, as a person running it has.
    const onTerminal = await run("script", ["-qec", `${process.execPath} --import tsx src/main.ts rebuild`, "/dev/null"], env);
    assert.equal(onTerminal.code, 0, onTerminal.stdout);
    // The process id is on every line, so an operator knows which process said it (and whom to signal).
    assert.match(onTerminal.stdout, /\[\d\d:\d\d:\d\d\.\d{3}\] \S*INFO\S* \(registry\/\d+\): \S*buckets rebuilt in place from the events/);
    assert.doesNotMatch(onTerminal.stdout, /"level":/);
    const forcedJson = await run("script", ["-qec", `${process.execPath} --import tsx src/main.ts rebuild`, "/dev/null"], { ...env, LOG_FORMAT: "json" });
    assert.match(forcedJson.stdout, /"msg":"buckets rebuilt in place/);
    const bad = await run(process.execPath, ["--import", "tsx", "src/main.ts", "rebuild"], { ...env, LOG_FORMAT: "fancy" });
    assert.deepEqual([bad.code, bad.stderr], [2, 'registry: bad configuration: LOG_FORMAT "fancy" must be json or pretty (unset: pretty on a terminal, json otherwise)\n']);
  } finally {
    await server.stop();
  }
});

test("make run - nothing is compiled again when nothing changed (the build is a file target)", async () => {
  // make test built it; make -q answers 0 only when the target is up to date.
  const { code } = await run("make", ["-q", "dist/.built"], {});
  assert.equal(code, 0, "dist/.built is up to date, so make run goes straight to starting the registry");
});

test("registry --version prints the package's version", async () => {
  const { version } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  const run = await (await import("node:util")).promisify(execFile)(process.execPath, ["--import", "tsx", "src/main.ts", "--version"], { cwd: root });
  assert.equal(run.stdout, `${version}\n`);
});
