/**
 * The heartbeat ingest on a real nats-server, with the write side held back: what it keeps in
 * memory does not depend on how long its writes wait.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Entry } from "../src/contract/names.ts";
import { namesFor } from "../src/contract/names.ts";
import type { Node } from "../src/contract/schemas.ts";
import { NO_BINDINGS, nodeFromHeartbeat } from "../src/domain/node.ts";
import { heartbeatIngest } from "../src/liveness/heartbeatIngest.ts";
import { unreadableCounter } from "../src/unreadable.ts";
import { heartbeat, publishHeartbeat } from "./harness/nodes.ts";
import { startNatsServer } from "./harness/natsServer.ts";
import { silentLog } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

type IngestDeps = Parameters<typeof heartbeatIngest>[0];

/** An ingest on `nc` with the nodes known so far, whose writes and ownership the test gives. */
function ingestOf(nc: NatsConnection, known: Map<string, Entry<Node>>, over: Pick<IngestDeps, "commands" | "owns"> & Partial<IngestDeps>) {
  const nodes = { entry: (id: string) => known.get(id), values: () => [...known.values()].map((e) => e.value), get size() { return known.size; } };
  return heartbeatIngest({
    nc,
    names: namesFor("registry"),
    maxNodes: 100,
    recordEveryMs: 300_000,
    nodes,
    nodesWithUrl: () => [],
    urlBindings: () => NO_BINDINGS,
    foldHeartbeat: async () => "skipped",
    ownNodeId: () => undefined,
    unreadable: unreadableCounter(silentLog),
    log: silentLog,
    ...over,
  });
}

test("heartbeats - a join that waited for its write does not put back an older last heartbeat than one heard since", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const known = new Map<string, Entry<Node>>();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let joins = 0;
    let joined = 0;
    const commands = {
      async observeHeartbeat() {
        joins++;
        await held; // the write side is slow (a fleet joining at once)
        joined++;
        return { node: null, written: false };
      },
      checkLiveness: async () => ({ node: null, written: false }),
      removeOfflineNode: async () => ({ node: null, written: false }),
    };
    const ingest = ingestOf(nc, known, { commands, owns: () => true });
    try {
      publishHeartbeat(nc, heartbeat("n1"));
      await until(() => joins === 1, "the first heartbeat's join to be under way");
      // Its event is projected meanwhile, as another process's would be: n1 is known and its next heartbeat folds in memory.
      known.set("n1", { value: nodeFromHeartbeat(heartbeat("n1"), "Online", new Date(Date.now() - 60_000).toISOString()), revision: 1, version: 1 });
      const sentAt = Date.now();
      publishHeartbeat(nc, heartbeat("n1"));
      await until(() => (ingest.lastHeard("n1") ?? 0) >= sentAt, "the later heartbeat to be heard");
      const fresh = ingest.lastHeard("n1");
      release();
      await until(() => joined === 1, "the held join to finish");
      assert.equal(ingest.lastHeard("n1"), fresh, "the join's older time did not replace the later one");
    } finally {
      ingest.stop();
    }
  } finally {
    await nc.close();
    await server.stop();
  }
});

test("heartbeats - a process notes when a known node another process folds was last heard, so that taking it over starts from its real silence; a made-up node is not remembered", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const known = new Map<string, Entry<Node>>();
    known.set("n1", { value: nodeFromHeartbeat(heartbeat("n1"), "Online", new Date(Date.now() - 60_000).toISOString()), revision: 1, version: 1 });
    let folded = 0;
    const ingest = ingestOf(nc, known, {
      foldHeartbeat: async () => ((folded++), "skipped"),
      commands: {
        observeHeartbeat: async () => ({ node: null, written: false }),
        checkLiveness: async () => ({ node: null, written: false }),
        removeOfflineNode: async () => ({ node: null, written: false }),
      },
      owns: () => false, // another process folds every node
    });
    try {
      const sentAt = Date.now();
      publishHeartbeat(nc, heartbeat("made-up")); // first: heard in order, it has been by the time n1 is
      publishHeartbeat(nc, heartbeat("n1"));
      await until(() => (ingest.lastHeard("n1") ?? 0) >= sentAt, "n1's heartbeat to be noted");
      assert.equal(ingest.lastHeard("made-up"), undefined, "a node no one knows is not remembered by a process that does not fold it");
      assert.equal(folded, 0, "nor is either read here");
      assert.equal(ingest.state().nodes, 0, "the nodes this process folds: none");
    } finally {
      ingest.stop();
    }
  } finally {
    await nc.close();
    await server.stop();
  }
});
