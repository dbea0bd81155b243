import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../src/contract/schemas.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

const node = (id: string, port: number): Node => ({
  id,
  url: `http://127.0.0.1:${port}`,
  region: "local-1",
  availabilityZone: "local-1a",
  status: "Online",
  lastHeartbeat: new Date().toISOString(),
  usage: { cpu: { used: 1, total: 2, percent: 50 }, memory: { used: 1, total: 4, percent: 25 }, disk: { used: 3, total: 4, percent: 75 } },
  gpus: [],
});

const nodeA = node("node-a", 11337);

describe("nodes", () => {
  let r: TestRegistry;
  before(async () => {
    r = await startTestRegistry();
    // Nodes join through the node agent's heartbeats; here the join command is run directly.
    await r.registry.commands.joinNode(node("node-b", 11338), "first heartbeat");
    await r.registry.commands.joinNode(nodeA, "first heartbeat");
  });
  after(async () => r.stop());

  test("node - list answers every node in id order, or those of ids", async () => {
    const all = await r.call("node.list", {});
    assert.deepEqual(all.body.nodes.map((n: Node) => n.id), ["node-a", "node-b"]);
    assert.deepEqual(all.body.nodes[0], nodeA, "stored as joined");
    const some = await r.call("node.list", { ids: ["node-b", "node-x"] });
    assert.deepEqual(some.body.nodes.map((n: Node) => n.id), ["node-b"]);
  });

  test("node - get by id or by url", async () => {
    assert.equal((await r.call("node.get", { id: "node-a" })).body.node.url, "http://127.0.0.1:11337");
    assert.equal((await r.call("node.get", { url: "http://127.0.0.1:11338" })).body.node.id, "node-b");
    const missing = await r.call("node.get", { url: "http://127.0.0.1:1" });
    assert.equal(missing.code, 404);
    assert.match(missing.body.error.message, /node with url http:\/\/127.0.0.1:1 not found/);
  });

  test("node - get or remove needs exactly one of id and url", async () => {
    for (const body of [{}, { id: "node-a", url: "http://127.0.0.1:11337" }]) {
      const reply = await r.call("node.get", body);
      assert.equal(reply.code, 400);
      assert.match(reply.body.error.message, /exactly one of id and url/);
    }
    const before = await r.eventCount();
    assert.equal((await r.call("node.remove", {})).code, 400);
    assert.equal((await r.call("node.remove", { id: "no*de" })).code, 400);
    assert.equal(await r.eventCount(), before);
  });

  test("node - remove by url, then by id; a second remove is 404 and writes nothing", async () => {
    await r.registry.commands.joinNode(node("node-c", 11339), "first heartbeat");
    await r.registry.commands.joinNode(node("node-d", 11340), "first heartbeat");
    assert.deepEqual((await r.call("node.remove", { url: "http://127.0.0.1:11339" })).body, {});
    assert.deepEqual((await r.call("node.remove", { id: "node-d" })).body, {});
    const ids = (await r.call("node.list")).body.nodes.map((n: Node) => n.id);
    assert.deepEqual(ids, ["node-a", "node-b"]);
    const before = await r.eventCount();
    assert.equal((await r.call("node.remove", { id: "node-d" })).code, 404);
    assert.equal((await r.call("node.remove", { url: "http://127.0.0.1:11339" })).code, 404);
    assert.equal(await r.eventCount(), before);
  });
});
