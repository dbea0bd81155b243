/**
 * A registry process starting against a large instances bucket (issue 27): its HTTP face
 * answers while it loads, `/readyz` saying how far (a 503 whose reason counts the entries),
 * every operation a 503 that says the same, and once loaded everything is there. Before, the
 * first load had the 5 s deadline of a sync and a large bucket failed the start.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "./harness/natsServer.ts";
import { freePort } from "./harness/ports.ts";
import { spawnRegistry } from "./harness/registry.ts";

const ENTRIES = 100_000;

test("cold start - while it loads a large instances bucket, /readyz and every operation say how far it is; then all is served", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  let registry: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
  try {
    // A first start makes the buckets; then the instances bucket is filled behind its back, as a large deployment's is.
    await (await spawnRegistry(server.url, { OB_NODE_ID: "cold-node", REGISTRY_DATA_DIR: server.dir })).stop();
    const js = jetstream(nc);
    const at = new Date().toISOString();
    const puts: Promise<unknown>[] = [];
    for (let n = 0; n < ENTRIES; n++) {
      const id = `inst_${String(n).padStart(8, "0")}`;
      const slug = `svc-${n % 100}`;
      const instance = { id, url: `http://127.0.${Math.floor(n / 250) % 250}.${1 + (n % 250)}:${10000 + (n % 50000)}`, slug, tags: [], status: "Healthy", statusCause: "registered", lastHeartbeat: at, createdAt: at, updatedAt: at };
      puts.push(js.publish(`$KV.registry_instances.${slug}.${id}`, JSON.stringify(instance)));
      if (puts.length === 512) await Promise.all(puts.splice(0));
    }
    await Promise.all(puts);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const starting = spawnRegistry(server.url, { OB_NODE_ID: "cold-node", REGISTRY_DATA_DIR: server.dir, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}` });
    const reasons: string[] = [];
    const refusals: string[] = [];
    let started = false;
    void starting.then(() => (started = true), () => (started = true));
    while (!started) {
      const ready = await fetch(`${base}/readyz`).catch(() => undefined);
      if (ready?.status === 503) {
        reasons.push(((await ready.json()) as { reason: string }).reason);
        const list = await fetch(`${base}/registry-svc/instances?limit=1`);
        if (list.status === 503) refusals.push(((await list.json()) as { error: { message: string } }).error.message);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    registry = await starting;
    assert.ok(reasons.length > 0, "the HTTP face answered while the process loaded");
    assert.ok(
      reasons.some((r) => /^starting: loading registry_instances at message [\d,]+ of [\d,]+ \(\d+%\)/.test(r)),
      `a reason counts the entries loaded: ${JSON.stringify(reasons.slice(0, 3))}`,
    );
    assert.ok(refusals.length > 0 && refusals.every((m) => /^this registry process is starting: .*; retry in a few seconds/.test(m)), `operations refused while loading say why: ${refusals[0]}`);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const page = (await (await fetch(`${base}/registry-svc/services?limit=1000`)).json()) as { services: { instances: number }[] };
    assert.equal(page.services.reduce((n, s) => n + s.instances, 0), ENTRIES, "every entry is served once started");
  } finally {
    await registry?.stop();
    await nc.close();
    await server.stop();
  }
});
