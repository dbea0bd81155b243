/**
 * Folds heartbeats into `registry_nodes`. A heartbeat that changes a node's state (first
 * one, one after Offline, a new url/region/zone) runs the node's ObserveHeartbeat command;
 * every other one only rewrites the node's telemetry (lastHeartbeat, usage, gpus) in the
 * KV entry, which is not an event. The durable consumer `heartbeats` is shared by all
 * registry processes, so each heartbeat is folded by one of them.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { durableWorker } from "../nats/durableWorker.ts";
import type { Names } from "../contract/names.ts";
import { Heartbeat, type Node } from "../contract/schemas.ts";
import { validator } from "../contract/validate.ts";
import { isStale } from "../domain/node.ts";
import type { NodeLivenessCommands, NodesView } from "../contract/api.ts";

/** Rewrites a live KV entry in place (the projector's kvWriter.update). */
export type TelemetryWriter = {
  update(bucket: string, key: string, change: (value: unknown) => unknown | null, known?: { value: unknown; revision: number; version: number }): Promise<unknown>;
};

export const HEARTBEATS_DURABLE = "heartbeats";
const MAX_IN_FLIGHT = 128;
const validHeartbeat = validator(Heartbeat, "heartbeat");

export type HeartbeatIngest = { run(): Promise<void>; stop(): Promise<void> };

function changesState(node: Node | undefined, h: Heartbeat): boolean {
  return !node || node.status === "Offline" || node.url !== h.url || node.region !== h.region || node.availabilityZone !== h.availabilityZone;
}

export function heartbeatIngest(deps: {
  js: JetStreamClient;
  names: Names;
  nodes: NodesView;
  writer: TelemetryWriter;
  commands: NodeLivenessCommands;
  offlineAfterMs: number;
  log: Logger;
}): HeartbeatIngest {
  const { js, names, nodes, writer, commands, log } = deps;
  const refused = new Set<string>();

  async function fold(m: JsMsg): Promise<void> {
    let h: Heartbeat;
    try {
      h = validHeartbeat(m.json());
      if (m.subject !== names.heartbeatSubject(h.id)) throw new Error(`it says it is from node ${h.id}`);
    } catch (err) {
      if (!refused.has(m.subject)) log.warn({ subject: m.subject, error: (err as Error).message }, "heartbeat refused");
      refused.add(m.subject);
      return;
    }
    const now = new Date().toISOString();
    if (isStale(h.at, now, deps.offlineAfterMs)) return; // an old heartbeat says nothing about now
    const known = nodes.entry(h.id);
    if (changesState(known?.value, h)) {
      const { written, node } = await commands.observeHeartbeat(h);
      if (written) log.info({ node: h.id, status: node?.status }, "node state changed by heartbeat");
    }
    await writer.update(
      names.buckets.node,
      h.id,
      (stored) => {
        const node = stored as Node;
        if (node.lastHeartbeat && Date.parse(node.lastHeartbeat) >= Date.parse(h.at)) return null;
        const { gpus: _old, ...rest } = node;
        return { ...rest, lastHeartbeat: h.at, usage: h.usage, ...(h.gpus ? { gpus: h.gpus } : {}) };
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
