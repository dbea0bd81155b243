/**
 * Bounded inputs and lists that always page: a server with a small max_payload, replies cut
 * to fit it, and health checks that never leave the instance's origin.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { RegistryClient } from "../src/client/index.ts";
import type { Instance } from "../src/contract/schemas.ts";
import { probe } from "../src/health/probes.ts";
import { runCli } from "./harness/cli.ts";
import { startNatsServer, type NatsServer } from "./harness/natsServer.ts";
import { gpu, heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { clientFor, startRegistryOn, type Client } from "./harness/registry.ts";
import { startHttpTarget } from "./harness/targets.ts";
import { until } from "./harness/until.ts";

const MAX_PAYLOAD = 64 * 1024;

describe("lists on a server with a 64 KiB max_payload", () => {
  let server: NatsServer;
  let registry: Awaited<ReturnType<typeof startRegistryOn>>;
  let c: Client;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "registry-conf-"));
    const conf = join(dir, "small.conf");
    await writeFile(conf, `max_payload: ${MAX_PAYLOAD}\n`);
    server = await startNatsServer(["-c", conf]);
    registry = await startRegistryOn(server.url, server.dir, { offlineAfterMs: 600_000 });
    c = await clientFor(server.url);
  });
  after(async () => {
    await c.nc.close();
    await registry.registry.stop();
    await registry.nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("lists - an instance page with large details ends before the max_payload, with next; the client and CLI read every page", async () => {
    for (let n = 0; n < 40; n++) {
      const reply = await c.call("instance.register", { url: `http://127.0.0.1:${8100 + n}`, slug: "big-svc", details: "d".repeat(4000) });
      assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    }
    const page = await c.call("instance.list", { slug: "big-svc", limit: 1000 });
    assert.equal(page.code, undefined, "no 413");
    assert.ok(page.body.instances.length > 0 && page.body.instances.length < 40, `${page.body.instances.length} on the first page`);
    assert.equal(page.body.next, page.body.instances.at(-1).id);
    const all = await new RegistryClient(c.nc).listInstances({ slug: "big-svc" });
    assert.equal(all.length, 40);
    assert.equal(new Set(all.map((i) => i.id)).size, 40);
    const cli = await runCli(["i", "ls", "--slug", "big-svc", "--json"], { NATS_URL: server.url });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).instances.length, 40);
  });

  test("lists - node.list pages, by limit and by size; the client reads every page", async () => {
    for (let n = 0; n < 150; n++) {
      publishHeartbeat(c.nc, heartbeat(`gpu-node-${String(n).padStart(3, "0")}`, { gpus: Array.from({ length: 8 }, (_, g) => gpu(g, 100, 5)) }));
    }
    await until(async () => (await new RegistryClient(c.nc).listNodes()).length === 151, "150 nodes and self-node to join");
    const first = await c.call("node.list", {});
    assert.equal(first.code, undefined);
    assert.ok(first.body.next !== undefined && first.body.nodes.length < 151, `${first.body.nodes.length} nodes on a page`);
    const limited = await c.call("node.list", { limit: 2, after: "gpu-node-000" });
    assert.deepEqual(limited.body.nodes.map((n: { id: string }) => n.id), ["gpu-node-001", "gpu-node-002"]);
    assert.equal(limited.body.next, "gpu-node-002");
  });

  test("lists - definition.list pages the same way", async () => {
    for (let n = 0; n < 30; n++) {
      const envars = Array.from({ length: 40 }, (_, e) => ({ key: `K${e}`, value: "v".repeat(100) }));
      assert.equal((await c.call("definition.save", { definition: { id: `def-${n}`, image: { name: "nginx" }, envars } })).code, undefined);
    }
    const first = await c.call("definition.list", {});
    assert.ok(first.body.next !== undefined && first.body.definitions.length < 30, `${first.body.definitions.length} on a page`);
    assert.equal((await new RegistryClient(c.nc).listDefinitions()).length, 30);
    const cli = await runCli(["def", "ls", "--json"], { NATS_URL: server.url });
    assert.equal(JSON.parse(cli.stdout).definitions.length, 30);
  });
});

describe("health checks stay on the instance's origin", () => {
  test("checks - a check whose path leaves the instance's origin is never fetched", async () => {
    const victim = await startHttpTarget();
    try {
      const at = new Date().toISOString();
      const instance: Instance = { id: "inst_x", url: "http://127.0.0.1:1", tags: [], status: "Unknown", createdAt: at, updatedAt: at };
      for (const path of [`${victim.url}/admin`, `//127.0.0.1:${victim.port}/admin`, `http://127.0.0.1:${victim.port}`]) {
        const result = await probe(instance, { type: "http", path });
        assert.equal(result.outcome, "failed");
        assert.match(result.detail, /not checked: check path .* leaves the instance's origin http:\/\/127\.0\.0\.1:1/);
      }
      const grpc = await probe({ ...instance, url: `grpc://127.0.0.1:${victim.port}` }, { type: "http" });
      assert.match(grpc.detail, /needs an http or https url/);
      assert.equal(victim.requests, 0);
    } finally {
      await victim.stop();
    }
  });

  test("checks - an instance entry written to the bucket with such a check is skipped, and its target never contacted", async () => {
    const server = await startNatsServer();
    const victim = await startHttpTarget();
    const { registry, nc } = await startRegistryOn(server.url, server.dir, { offlineAfterMs: 600_000 });
    const c = await clientFor(server.url);
    try {
      const at = new Date().toISOString();
      const forged = { id: "inst_forged", url: "http://127.0.0.1:1", slug: "forged", tags: [], status: "Unknown", createdAt: at, updatedAt: at, check: { type: "http", path: `${victim.url}/admin`, intervalMs: 100 } };
      await (await new Kvm(c.nc).open("registry_instances")).put("forged.inst_forged", JSON.stringify(forged));
      await until(async () => (await c.call("health.status")).body.unreadable.kvEntries >= 1, "the forged entry to be read and refused");
      assert.equal((await c.call("instance.get", { id: "inst_forged" })).code, 404);
      assert.equal(victim.requests, 0);
    } finally {
      await c.nc.close();
      await registry.stop();
      await nc.close();
      await victim.stop();
      await server.stop();
    }
  });
});
