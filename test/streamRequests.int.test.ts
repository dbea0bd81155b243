import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { StreamApiError, WRONG_LAST_SEQUENCE, streamRequests, streamRequestsOf } from "../src/nats/streamRequests.ts";
import { startNatsServer, type NatsServer } from "./harness/natsServer.ts";

describe("stream requests: the write path's publish and direct get", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "T", subjects: ["t.>"], allow_direct: true, duplicate_window: 60_000_000_000 });
  });
  after(async () => {
    await nc.close();
    await server.stop();
  });

  test("a publish is acknowledged with its sequence; a compare-and-set on a stale sequence is refused with JetStream's code", async () => {
    const requests = streamRequestsOf(nc);
    const first = await requests.publish("t.a", "1", { expectLastSubjectSequence: 0 });
    assert.equal(first.stream, "T");
    const second = await requests.publish("t.a", "2", { expectLastSubjectSequence: first.seq });
    assert.equal(second.seq, first.seq + 1);
    await assert.rejects(requests.publish("t.a", "3", { expectLastSubjectSequence: first.seq }), (err: unknown) => err instanceof StreamApiError && err.errCode === WRONG_LAST_SEQUENCE);
    assert.equal((await requests.lastBySubject("T", "t.a"))?.json(), 2, "the refused publish wrote nothing");
  });

  test("a repeated message id is acknowledged as a duplicate, at the first one's sequence", async () => {
    const requests = streamRequestsOf(nc);
    const a = await requests.publish("t.d", "x", { msgId: "m-1" });
    const b = await requests.publish("t.d", "x", { msgId: "m-1" });
    assert.deepEqual([a.duplicate, b.duplicate, b.seq], [false, true, a.seq]);
  });

  test("a direct get returns the last message with its headers, null for a subject with none", async () => {
    const requests = streamRequestsOf(nc);
    const h = headers();
    h.set("Registry-Version", "7");
    const ack = await requests.publish("t.h", JSON.stringify({ ok: true }), { headers: h });
    const m = await requests.lastBySubject("T", "t.h");
    assert.deepEqual([m?.seq, m?.subject, m?.header?.get("Registry-Version"), m?.json()], [ack.seq, "t.h", "7", { ok: true }]);
    assert.equal(await requests.lastBySubject("T", "t.none"), null);
  });

  test("no stream behind a subject is a clear error, not a hang", async () => {
    await assert.rejects(streamRequestsOf(nc).publish("nostream.x", "1"), /no stream takes nostream\.x/);
    // nats-server answers nothing for a direct get on a stream that does not exist: the deadline ends it.
    await assert.rejects(streamRequests(nc, 300).lastBySubject("MISSING", "t.a"), /reading t\.a from MISSING timed out after 300 ms/);
  });

  test("a request nobody answers fails at its deadline", async () => {
    const silent = nc.subscribe("silent.>", { callback: () => undefined });
    try {
      await assert.rejects(streamRequests(nc, 300).publish("silent.x", "1"), /publishing to silent\.x timed out after 300 ms/);
    } finally {
      silent.unsubscribe();
    }
  });

  test("requests in flight when the connection closes fail at once", async () => {
    const own = await connect({ servers: server.url });
    own.subscribe("silent2.>", { callback: () => undefined });
    const pending = streamRequests(own, 60_000).publish("silent2.x", "1");
    await own.flush();
    await own.close();
    await assert.rejects(pending, /connection is closed/);
  });
});
