/**
 * Folds heartbeats into `registry_nodes`. A heartbeat that changes a node's state (first
 * one, one after Offline, a new url/region/zone) runs the node's ObserveHeartbeat command;
 * every other one only rewrites the node's telemetry (lastHeartbeat, usage, gpus) in the
 * KV entry, which is not an event. The durable consumer `heartbeats` is shared by all
 * registry processes, so each heartbeat is folded by one of them.
 *
 * Heartbeats are untrusted: fields this version does not know are dropped (a newer agent
 * rolls out without being refused), one that cannot be read is skipped and counted, and
 * the time it reached the stream, not the agent's `at`, is the node's last heartbeat.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { durableWorker } from "../nats/durableWorker.ts";
import type { Names } from "../contract/names.ts";
import { Heartbeat, type Node } from "../contract/schemas.ts";
import { reader } from "../contract/validate.ts";
import { heartbeatChangesState, isNewerHeartbeat, isStale } from "../domain/node.ts";
import type { NodeLivenessCommands, NodesView } from "../contract/api.ts";
import type { Unreadable } from "../unreadable.ts";

/** Rewrites a live KV entry in place (the projector's kvWriter.update). */
export type TelemetryWriter = {
  update(bucket: string, key: string, change: (value: unknown) => unknown | null, known?: { value: unknown; revision: number; version: number }): Promise<unknown>;
};

export const HEARTBEATS_DURABLE = "heartbeats";
const MAX_IN_FLIGHT = 128;
/** An agent's clock further off than this is logged (once per node); it changes nothing else. */
const MAX_CLOCK_SKEW_MS = 30_000;
const readHeartbeat = reader(Heartbeat);

export type HeartbeatIngest = { run(): Promise<void>; stop(): Promise<void> };

export function heartbeatIngest(deps: {
  js: JetStreamClient;
  names: Names;
  nodes: NodesView;
  writer: TelemetryWriter;
  commands: NodeLivenessCommands;
  offlineAfterMs: number;
  unreadable: Unreadable;
  log: Logger;
  clock?: () => Date;
}): HeartbeatIngest {
  const { js, names, nodes, writer, commands, unreadable, log } = deps;
  const skewed = new Set<string>();

  function read(m: JsMsg): Heartbeat | undefined {
    let result;
    try {
      result = readHeartbeat(m.json());
    } catch {
      result = { ok: false as const, reason: "not JSON" };
    }
    if (result.ok && m.subject !== names.heartbeatSubject(result.value.id)) result = { ok: false as const, reason: `it says it is from node ${result.value.id}` };
    if (result.ok) return result.value;
    unreadable.skip("heartbeats", m.subject, result.reason, { subject: m.subject });
    return undefined;
  }

  async function fold(m: JsMsg): Promise<void> {
    const h = read(m);
    if (!h) return;
    const now = deps.clock?.() ?? new Date();
    const receivedAt = new Date(Math.min(m.time.getTime(), now.getTime())).toISOString();
    if (isStale(receivedAt, now.toISOString(), deps.offlineAfterMs)) return; // an old heartbeat says nothing about now
    if (h.at !== undefined && Math.abs(Date.parse(h.at) - Date.parse(receivedAt)) > MAX_CLOCK_SKEW_MS && !skewed.has(h.id)) {
      skewed.add(h.id);
      log.warn({ node: h.id, at: h.at, receivedAt }, "node's clock is off; its heartbeats are dated by when they arrive");
    }
    const known = nodes.entry(h.id);
    if (known && !isNewerHeartbeat(known.value, receivedAt)) return;
    if (heartbeatChangesState(known?.value, h)) {
      const { written, node } = await commands.observeHeartbeat(h, receivedAt);
      if (written) log.info({ node: h.id, status: node?.status }, "node state changed by heartbeat");
    }
    await writer.update(
      names.buckets.node,
      h.id,
      (stored) => {
        const node = stored as Node;
        if (!isNewerHeartbeat(node, receivedAt)) return null;
        const { gpus: _old, ...rest } = node;
        return { ...rest, lastHeartbeat: receivedAt, usage: h.usage, ...(h.gpus ? { gpus: h.gpus } : {}) };
      },
      known,
    );
  }

  const worker = durableWorker({
    js,
    stream: names.heartbeatsStream,
    durable: HEARTBEATS_DURABLE,
    handle: (m) => fold(m).catch((err) => log.warn({ err, subject: m.subject }, "heartbeat not folded; the next one will be")),
    maxInFlight: MAX_IN_FLIGHT,
    log,
  });
  return { run: worker.run, stop: worker.stop };
}
