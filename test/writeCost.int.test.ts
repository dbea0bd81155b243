/**
 * What a registration costs the server, counted with nats-server's /varz around a batch:
 * the request and its reply, the append, the KV write, the projector consumer's delivery
 * and ack, the read model's delivery, and the read-your-writes barrier. Nothing repeated.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

type Varz = { in_msgs: number; out_msgs: number };

describe("write path: server operations per command", () => {
  let r: TestRegistry;
  const varz = async () => (await (await fetch(`${r.server.monitorUrl}/varz`)).json()) as Varz;
  before(async () => {
    r = await startTestRegistry();
  });
  after(() => r.stop());

  test("a registration is request, reply, append, KV write, barrier and the projector's ack: the projector repeats nothing", async () => {
    const n = 50;
    const stream = await r.jsm.streams.info("REGISTRY_EVENTS");
    const before = await varz();
    for (let i = 0; i < n; i++) {
      const reply = await r.call("instance.register", { url: `http://127.0.0.1:${20000 + i}`, slug: "costed" });
      assert.equal(reply.code, undefined, JSON.stringify(reply.body));
    }
    // The projector consumer has had every event of the batch (so its acks are counted).
    await until(async () => (await r.jsm.consumers.info("REGISTRY_EVENTS", "projector")).ack_floor.stream_seq >= stream.state.last_seq + n, "the projector to ack the batch");
    const after = await varz();
    const inPerOp = (after.in_msgs - before.in_msgs) / n;
    const outPerOp = (after.out_msgs - before.out_msgs) / n;
    // in: request, reply, append, KV write, barrier request, projector ack (6); out: the same
    // deliveries plus the two pushes to the projector and the read model (7). A projector that
    // writes again costs a refused write and a read more each way; the slack is the registry's
    // own agent heartbeating meanwhile, and the acks of the /varz-reading consumer info.
    assert.ok(inPerOp <= 6.4, `${inPerOp} messages into the server per registration`);
    assert.ok(outPerOp <= 7.4, `${outPerOp} messages out of the server per registration`);
  });

  test("a removal costs the same: the projector knows the delete is in the read model", async () => {
    const n = 50;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await r.call("instance.register", { url: `http://127.0.0.2:${20000 + i}`, slug: "removed" })).body.instance.id);
    const stream = await r.jsm.streams.info("REGISTRY_EVENTS");
    await until(async () => (await r.jsm.consumers.info("REGISTRY_EVENTS", "projector")).ack_floor.stream_seq >= stream.state.last_seq, "the projector to ack the registrations");
    const before = await varz();
    for (const id of ids) assert.equal((await r.call("instance.remove", { id })).code, undefined);
    await until(async () => (await r.jsm.consumers.info("REGISTRY_EVENTS", "projector")).ack_floor.stream_seq >= stream.state.last_seq + n, "the projector to ack the removals");
    const after = await varz();
    // in: request, reply, append, KV delete, projector ack (5); out: the same plus two pushes (6).
    assert.ok((after.in_msgs - before.in_msgs) / n <= 5.4, `${(after.in_msgs - before.in_msgs) / n} messages into the server per removal`);
    assert.ok((after.out_msgs - before.out_msgs) / n <= 6.4, `${(after.out_msgs - before.out_msgs) / n} messages out of the server per removal`);
  });
});
