/**
 * What a newcomer meets first: `make run` says which server it uses and never quietly uses
 * another one; the process commands' --help prints help and does nothing else.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

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
    assert.match(help.stdout, new RegExp(`^registry ${command}\\n`));
    const stray = await run(process.execPath, ["--import", "tsx", "src/main.ts", command, "--bogus"], env);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, new RegExp(`registry ${command}: unexpected argument --bogus`));
  });
}
