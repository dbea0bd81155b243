/**
 * Issue 27, mirrors of a part: a process started with REGISTRY_SLUGS mirrors and serves only
 * those slugs' instances; what it does not hold is answered by a process that holds every slug
 * (forwarded), or, with none running, refused with a 404 that says which processes hold what.
 * Writes stay correct through it: a registration that moves a URL held in another slug updates
 * that instance, not a second one; operations on instances it does not hold are authorized and
 * answered where they are held. It takes no share of the fleet's leases and checks.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Registry } from "../src/app/registry.ts";
import { configFromEnv } from "../src/config.ts";
import { startRegistryOn, startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

async function json(res: Response): Promise<any> {
  return res.json();
}

describe("REGISTRY_SLUGS: a process that holds a part (issue 27)", () => {
  let full: TestRegistry;
  let partial: { registry: Registry; nc: NatsConnection; dir: string };
  let base: string;
  const ids: Record<string, string> = {};

  before(async () => {
    full = await startTestRegistry();
    for (const [name, slug, port] of [["a1", "part-a", 1], ["a2", "part-a", 2], ["b1", "part-bx", 3], ["o1", "other", 4], ["o2", "other", 5]] as const) {
      ids[name] = (await full.call("instance.register", { url: `http://127.0.0.1:${23000 + port}`, slug })).body.instance.id;
    }
    ids.chosen = (await full.call("instance.register", { id: "chosen-one", url: "http://127.0.0.1:23009", slug: "other" })).body.instance.id;
    const dir = await mkdtemp(join(tmpdir(), "registry-partial-"));
    partial = { ...(await startRegistryOn(full.server.url, dir, { nodeId: "partial-node", slugs: ["part-a", "part-b*"] })), dir };
    base = `${partial.registry.httpUrl!}/registry-svc`;
  });
  after(async () => {
    await partial.registry.stop();
    await partial.nc.close();
    await rm(partial.dir, { recursive: true, force: true });
    await full.stop();
  });

  test("it mirrors only its slugs' instances, answers their lists itself, and forwards the rest to a process that holds every slug", async () => {
    const metrics = await (await fetch(`${partial.registry.httpUrl!}/metrics`)).text();
    const held = [...metrics.matchAll(/^registry_instances\{status="[^"]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(held, 3, "part-a's two and part-bx's one, not the others");

    assert.deepEqual((await json(await fetch(`${base}/instances?slug=part-a`))).instances.map((i: { id: string }) => i.id).sort(), [ids.a1, ids.a2].sort());
    assert.deepEqual((await json(await fetch(`${base}/instances?slug=other`))).instances.map((i: { id: string }) => i.id).sort(), [ids.o1, ids.o2, ids.chosen].sort(), "forwarded");
    assert.equal((await json(await fetch(`${base}/instances`))).instances.length, 6, "every slug: forwarded");
    assert.equal((await json(await fetch(`${base}/instance/${ids.o1}`))).instance.slug, "other");
    assert.deepEqual((await json(await fetch(`${base}/services`))).services.map((s: { slug: string }) => s.slug), ["other", "part-a", "part-bx"]);
    const missing = await fetch(`${base}/instance/not-there`);
    assert.equal(missing.status, 404, "the process holding every slug says it is not there");
  });

  test("writes through it are those of a process that holds every slug: a URL held in another slug moves, it is not registered twice", async () => {
    const moved = await fetch(`${base}/instance`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ url: "http://127.0.0.1:23009", slug: "part-a" }) });
    assert.equal(moved.status, 200, await moved.clone().text());
    const reply = await json(moved);
    assert.equal(reply.instance.id, "chosen-one", "the instance that held the URL, by its chosen id");
    assert.equal(reply.outcome, "updated");
    const holders = (await full.call("instance.list", { limit: 100 })).body.instances.filter((i: { url: string }) => i.url === "http://127.0.0.1:23009");
    assert.equal(holders.length, 1);
    await until(async () => (await json(await fetch(`${base}/instances?slug=part-a`))).instances.length === 3, "the moved instance in part-a's mirror here");

    // A status report on an instance of a slug it does not hold is answered where it is held.
    const status = await fetch(`${base}/instance/${ids.o2}/status`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ status: "Unhealthy" }) });
    assert.equal(status.status, 200, await status.clone().text());
    assert.equal((await full.call("instance.get", { id: ids.o2 })).body.instance.status, "Unhealthy");
  });

  test("an open registry believes no caller a forwarded call names: the internal subject is no way to sign someone else's name", async () => {
    const forged = { request: { url: "http://127.0.0.1:23077", slug: "other" }, ctx: { caller: { account: "ORDERS", user: "someone-else" } } };
    const reply = (await full.nc.request("registry.internal.every-slug.registerInstance", JSON.stringify(forged), { timeout: 10_000 })).json<{ ok: { instance: { id: string } } }>();
    const event = await full.jsm.streams.getMessage("REGISTRY_EVENTS", { last_by_subj: `registry.events.instance.${reply.ok.instance.id}` });
    assert.equal(event!.json<{ metadata: { by?: unknown } }>().metadata.by, undefined);
  });

  test("it takes no share of the fleet's leases and checks: the process holding every slug counts itself alone", async () => {
    const partialId = partial.registry.service.info().id;
    await until(() => full.registry.members().includes(full.registry.service.info().id), "the full process to see itself");
    assert.ok(!full.registry.members().includes(partialId), `the partial process ${partialId} is not among ${full.registry.members().join(", ")}`);
  });

  test("REGISTRY_SLUGS is checked at start: an entry that is neither a slug nor a prefix is refused, naming it", () => {
    assert.throws(() => configFromEnv({ REGISTRY_SLUGS: "good,not a slug" }), /REGISTRY_SLUGS: "not a slug" is neither a slug nor a slug prefix ending in \*/);
    assert.deepEqual(configFromEnv({ REGISTRY_SLUGS: " pay*, orders " }).slugs, ["pay*", "orders"]);
  });

  test("with no process holding every slug, what it does not hold is a 404 that says which processes hold what", async () => {
    await full.registry.stop();
    const res = await fetch(`${base}/instances?slug=other`);
    assert.equal(res.status, 404);
    const { error } = await json(res);
    assert.match(error.message, /this registry process holds only the instances of part-a, part-b\* \(REGISTRY_SLUGS\), and no process holding every slug is running/);
    assert.match(error.message, new RegExp(`${partial.registry.service.info().id} holds part-a,part-b\\*`));
    assert.equal((await json(await fetch(`${base}/instances?slug=part-a`))).instances.length, 3, "its own slugs are still answered");
  });
});
