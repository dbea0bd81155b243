/**
 * `registry.service.list`: the slugs that have instances, counted by status, the same over
 * NATS, HTTP, the client and the CLI (one row of the operation table), paged and as of a time.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { RegistryClient } from "../src/client/index.ts";
import { runCli } from "./harness/cli.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

describe("services", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry()));
  after(async () => r.stop());

  const zero = { Unknown: 0, Starting: 0, Healthy: 0, Degraded: 0, Unhealthy: 0, Unreachable: 0, Stopping: 0 };
  const register = async (url: string, slug: string | undefined, status?: string) => {
    const reply = await r.call("instance.register", { url, ...(slug ? { slug } : {}), ...(status ? { status } : {}) });
    assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    return reply.body.instance.id as string;
  };

  test("service - list counts each slug's instances by status, in slug order, over NATS, HTTP, the client and the CLI; counts follow status changes", async () => {
    await register("http://127.0.0.1:31001", "pay-svc", "Healthy");
    const draining = await register("http://127.0.0.1:31002", "pay-svc", "Healthy");
    await register("http://127.0.0.1:31003", "auth-svc");
    await register("http://127.0.0.1:31004", undefined); // no slug: no service
    const before = Date.now();

    const listed = (await r.call("service.list", {})).body;
    assert.deepEqual(listed, {
      services: [
        { slug: "auth-svc", instances: 1, byStatus: { ...zero, Unknown: 1 } },
        { slug: "pay-svc", instances: 2, byStatus: { ...zero, Healthy: 2 } },
      ],
    });
    const http = await fetch(`${r.registry.httpUrl}/registry-svc/services`);
    assert.equal(http.status, 200);
    assert.deepEqual(await http.json(), listed);
    assert.deepEqual(await new RegistryClient(r.nc).listServices(), listed.services);

    await r.call("instance.status", { id: draining, status: "Stopping" });
    const pay = (await r.call("service.list", { after: "auth-svc" })).body.services;
    assert.deepEqual(pay, [{ slug: "pay-svc", instances: 2, byStatus: { ...zero, Healthy: 1, Stopping: 1 } }]);

    const cli = await runCli(["services"], { NATS_URL: r.server.url });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /SLUG\s+INSTANCES\s+HEALTHY\s+BY STATUS/);
    assert.match(cli.stdout, /pay-svc\s+2\s+50%\s+1 Healthy, 1 Stopping/, "the healthy share: half of pay-svc takes traffic");
    assert.match(cli.stdout, /auth-svc\s+1\s+0%\s+1 Unknown/);
    const json = await runCli(["svc", "ls", "--json"], { NATS_URL: r.server.url });
    assert.deepEqual(JSON.parse(json.stdout).services.map((s: { slug: string }) => s.slug), ["auth-svc", "pay-svc"]);

    // As it was before the status change (time travel), and a page at a time.
    const then = (await r.call("service.list", { asOf: new Date(before).toISOString() })).body.services;
    assert.deepEqual(then.find((s: { slug: string }) => s.slug === "pay-svc").byStatus, { ...zero, Healthy: 2 });
    const first = (await r.call("service.list", { limit: 1 })).body;
    assert.deepEqual([first.services.length, first.next], [1, "auth-svc"]);
  });

  test("service - a bad request is refused with 400 and names the field", async () => {
    const reply = await r.call("service.list", { limit: 0 });
    assert.equal(reply.code, 400);
    assert.match(reply.body.error.message, /\/limit must be >= 1/);
    assert.equal((await r.call("service.list", { slug: "x" })).code, 400);
  });
});
