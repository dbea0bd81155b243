/**
 * Reading a stream's subjects with the filter matched here (`filterHere`): the consumer has no
 * filter (nats-server 2.9 starts a filtered one in time proportional to the messages after its
 * start: seconds at millions of events), and the read yields what the server-filtered read does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { readSubjects, subjectMatcher } from "../src/nats/readSubjects.ts";
import { startNatsServer } from "./harness/natsServer.ts";

test("read subjects - with the filter matched here, the consumer has no filter and the read yields the filtered messages, to the last one on the filter", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({ name: "RS", subjects: ["rs.>"] });
    for (const s of ["rs.a.1", "rs.b.1", "rs.a.2", "rs.b.2", "rs.a.3", "rs.b.3", "rs.ab.1"]) await js.publish(s, s);
    const read = async (filterHere: boolean) => {
      const got: string[] = [];
      let filters: (string | undefined)[] = [];
      for await (const m of readSubjects(js, "RS", "rs.a.>", { startSeq: 2 }, { filterHere })) {
        if (got.length === 0) filters = (await jsm.consumers.list("RS").next()).map((c) => c.config.filter_subject ?? c.config.filter_subjects?.join(","));
        got.push(`${m.seq} ${m.subject}`);
      }
      return { got, filters };
    };
    const here = await read(true);
    const there = await read(false);
    assert.deepEqual(here.got, ["3 rs.a.2", "5 rs.a.3"], "the filter's messages from the start, ending at its last (not rs.ab.1)");
    assert.deepEqual(here.got, there.got, "as the server-filtered read");
    assert.deepEqual(here.filters, [undefined], "one consumer, without a filter");
    assert.ok(there.filters.includes("rs.a.>"), "the other read filters on the server");
    assert.throws(() => subjectMatcher("rs.*.1"), /a subject or a prefix ending in \.>/);
    assert.ok(subjectMatcher("rs.a.1")("rs.a.1") && !subjectMatcher("rs.a.1")("rs.a.10"));
  } finally {
    await nc.close();
    await server.stop();
  }
});
