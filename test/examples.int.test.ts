import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
let r: TestRegistry;
before(async () => (r = await startTestRegistry({ healthTickMs: 200 })));
after(async () => r.stop());

test("examples - a service that self-registers, and a caller that discovers it and calls it", async () => {
  const env = { ...process.env, NATS_URL: r.server.url, HELLO_NAME: "hello-a" };
  const service = spawn(process.execPath, ["--import", "tsx", "examples/hello-service.ts"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  service.stdout.on("data", (d: Buffer) => (out += d.toString()));
  service.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => service.once("exit", resolve));
  try {
    await until(async () => (await r.call("instance.list", { slug: "hello-svc", healthy: true })).body.instances.length === 1, "hello-svc to register and pass its check", 20_000);
    const caller = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--import", "tsx", "examples/hello-caller.ts", "3"], { cwd: root, env, timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    assert.match(caller, /^call 1 -> http:\/\/127\.0\.0\.1:\d+ \(Healthy\): hello from hello-a\n/);
    assert.equal(caller.split("\n").filter((l) => l.includes("hello from hello-a")).length, 3);
  } finally {
    service.kill("SIGTERM");
    await exited;
  }
  assert.match(out, /hello-a deregistered and stopped/);
  assert.deepEqual((await r.call("instance.list", { slug: "hello-svc" })).body.instances, [], "deregistered on SIGTERM");
});
