/**
 * HAProxy (Debian's haproxy) finding a service's instances through the registry's DNS face:
 * a `server-template` resolving `_<slug>._tcp.service.registry` (SRV, RFC 2782) through a
 * `resolvers` section that points at the registry. Requests through HAProxy reach every
 * instance; one deregistered, or Unhealthy, stops getting traffic within the DNS TTL plus
 * HAProxy's resolution interval.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestRegistry } from "./harness/registry.ts";
import { startHttpTarget } from "./harness/targets.ts";
import { until } from "./harness/until.ts";

/** A port free on loopback now (HAProxy takes it a moment later). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** The HAProxy lines the README shows, with this test's ports, after the defaults any HAProxy configuration has. */
async function haproxyConfig(dns: { host: string; port: number }, frontendPort: number): Promise<string> {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  const lines = /```haproxy\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  assert.ok(lines?.includes("127.0.0.1:8600") && lines.includes("bind 127.0.0.1:8080"), "the README's HAProxy lines");
  const defaults = "global\n  log stderr format raw local0 warning\n\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\n";
  return defaults + lines.replace("127.0.0.1:8600", `${dns.host}:${dns.port}`).replace("bind 127.0.0.1:8080", `bind 127.0.0.1:${frontendPort}`);
}

/** The DNS TTL (1 s) plus HAProxy's hold valid (1 s) and resolution interval (250 ms), with room for a loaded machine. */
const WITHIN_MS = 5_000;

test("haproxy - the README's server-template resolving _user-svc._tcp.service.registry sends traffic to every instance, and stops sending to one removed or Unhealthy", async () => {
  const r = await startTestRegistry({ dnsTtlSeconds: 1 });
  const targets = await Promise.all([startHttpTarget(), startHttpTarget(), startHttpTarget()]);
  const dir = await mkdtemp(join(tmpdir(), "registry-haproxy-"));
  const frontendPort = await freePort();
  await writeFile(join(dir, "haproxy.cfg"), await haproxyConfig(r.registry.dnsAddr!, frontendPort));
  const haproxy = spawn(existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "haproxy", ["-f", join(dir, "haproxy.cfg"), "-db"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  haproxy.stdout.on("data", (d: Buffer) => (output += d.toString()));
  haproxy.stderr.on("data", (d: Buffer) => (output += d.toString()));
  try {
    const ids: string[] = [];
    for (const t of targets) ids.push((await r.call("instance.register", { url: t.url, slug: "user-svc", status: "Healthy" })).body.instance.id);
    /** Sends `n` requests through HAProxy; how many each target answered. */
    const through = async (n: number) => {
      const before = targets.map((t) => t.requests);
      for (let k = 0; k < n; k++) await fetch(`http://127.0.0.1:${frontendPort}/`).then((res) => res.text()).catch(() => undefined);
      return targets.map((t, k) => t.requests - before[k]!);
    };
    await until(async () => (await through(6)).every((n) => n > 0), `requests through HAProxy to reach all three instances (haproxy said: ${output})`, 20_000);

    await r.call("instance.remove", { id: ids[0] });
    await until(async () => (await through(6))[0] === 0, "the removed instance to stop getting traffic", WITHIN_MS);
    const afterRemoval = await through(12);
    assert.equal(afterRemoval[0], 0, "none to the removed instance");
    assert.ok(afterRemoval[1]! > 0 && afterRemoval[2]! > 0, `the others share it: ${afterRemoval.join(", ")}`);

    await r.call("instance.status", { id: ids[1], status: "Unhealthy" });
    await until(async () => (await through(6))[1] === 0, "the Unhealthy instance to stop getting traffic", WITHIN_MS);
    const afterUnhealthy = await through(12);
    assert.deepEqual([afterUnhealthy[0], afterUnhealthy[1]], [0, 0]);
    assert.equal(afterUnhealthy[2], 12, "all to the one left");
  } finally {
    haproxy.kill("SIGTERM");
    await new Promise((ok) => (haproxy.exitCode !== null ? ok(undefined) : haproxy.once("exit", ok)));
    for (const t of targets) await t.stop();
    await rm(dir, { recursive: true, force: true });
    await r.stop();
  }
});
