/**
 * A service in another language: examples/go, built offline from Debian's NATS Go client
 * (GOPATH mode, no module download), registers itself with a lease, renews it by publishing,
 * discovers another slug by listing it and watching its keys, and deregisters on SIGTERM.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startTestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

test("go client - examples/go builds offline, registers with a lease it renews, discovers another slug and follows its changes, and deregisters on SIGTERM", async () => {
  const dir = await mkdtemp(join(tmpdir(), "registry-go-"));
  const binary = join(dir, "hello-go");
  await promisify(execFile)("go", ["build", "-o", binary, "./examples/go"], {
    cwd: root,
    env: { ...process.env, GO111MODULE: "off", GOPATH: "/usr/share/gocode", GOCACHE: join(dir, "cache"), GOFLAGS: "", GOPROXY: "off" },
    timeout: 180_000,
  });
  const r = await startTestRegistry({ healthTickMs: 200 });
  const { instance: other } = (await r.call("instance.register", { url: "http://127.0.0.1:9301", slug: "user-svc", status: "Healthy" })).body;
  const go = spawn(binary, [], { env: { ...process.env, NATS_URL: r.server.url, SLUG: "hello-go", DISCOVER: "user-svc" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  go.stdout.on("data", (d: Buffer) => (out += d.toString()));
  go.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((ok) => go.once("exit", ok));
  try {
    const [, id, url] = await until(() => /registered (\S+) at (\S+)/.exec(out) ?? undefined, "the Go service to register");
    await until(() => new RegExp(`discovered 1 instances of user-svc\\n  ${other.id} http://127.0.0.1:9301 Healthy`).test(out), "the Go service to list user-svc's instance");
    // Its first published renewal makes the lease-only instance Healthy; it stays so past its 6 s ttl.
    const healthy = await until(async () => {
      const i = (await r.call("instance.get", { id })).body.instance;
      return i?.status === "Healthy" ? i : undefined;
    }, "its published renewals to make it Healthy");
    assert.equal(healthy.statusCause, "lease-renewed");
    assert.equal(healthy.url, url);
    assert.equal(await (await fetch(url!)).text(), "hello from hello-go\n", "it serves what it registered");
    const since = Date.now();
    await until(() => Date.now() > since + 7000, "more than a ttl of renewals");
    assert.equal((await r.call("instance.get", { id })).body.instance.status, "Healthy", "renewed, not lapsed");

    const { instance: added } = (await r.call("instance.register", { url: "http://127.0.0.1:9302", slug: "user-svc", status: "Healthy" })).body;
    await until(() => out.includes(`changed user-svc.${added.id} http://127.0.0.1:9302 Healthy`), "the KV watch to show the new user-svc instance");
    await r.call("instance.remove", { id: added.id });
    await until(() => out.includes(`gone user-svc.${added.id}`), "the KV watch to show its removal");

    go.kill("SIGTERM");
    assert.equal(await exited, 0, out);
    assert.match(out, new RegExp(`deregistered ${id}`));
    assert.equal((await r.call("instance.get", { id })).code, 404, "gone at once, not when its lease lapses");
  } finally {
    if (go.exitCode === null) go.kill("SIGKILL");
    await r.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
