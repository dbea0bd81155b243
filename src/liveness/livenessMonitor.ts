/**
 * Turns silent nodes Offline. Every registry process checks every node each tick; the
 * node's decider writes NodeWentOffline only while the node is Online, and appends are
 * conditional on the node's version, so several processes checking at once write one
 * event, and a process that dies leaves the others checking.
 *
 * A node is silent only if the registry could have heard it: while this process cannot read
 * heartbeats (NATS unreachable, the cluster without quorum), and for REGISTRY_OFFLINE_AFTER_MS
 * after it can again, no node is turned Offline, so nodes that kept beating through an outage
 * of the servers do not go Offline because the servers did. And a node the read model shows
 * silent is checked against the heartbeats stream itself first: a heartbeat stored there but
 * not folded yet (the ingest catching up) keeps it Online.
 */
import type { Logger } from "pino";
import type { NodeLivenessCommands, NodesView } from "./ports.ts";
import { isStale } from "../domain/node.ts";
import { everyTick } from "../ticker.ts";

export type LivenessMonitor = { stop(): void; checkNow(): Promise<void> };

export function livenessMonitor(deps: {
  nodes: NodesView;
  commands: NodeLivenessCommands;
  offlineAfterMs: number;
  tickMs: number;
  log: Logger;
  /** Since when heartbeats have been read without a break (Date.now()), or undefined while they cannot be. */
  heartbeatsReadableSince?: () => number | undefined;
  /** When the heartbeats stream received the node's latest heartbeat (null: none); throws when it cannot be read. */
  latestStoredHeartbeat?: (id: string) => Promise<string | null>;
  /** The time decisions are taken at (tests give their own). */
  clock?: () => Date;
}): LivenessMonitor {
  const { nodes, commands, offlineAfterMs, log } = deps;

  let state: "starting" | "hearing" | "paused" = "starting";
  /** Whether heartbeats have been read long enough for silence to mean a silent node. */
  function heard(): boolean {
    if (!deps.heartbeatsReadableSince) return true;
    const since = deps.heartbeatsReadableSince();
    const ok = since !== undefined && Date.now() - since >= offlineAfterMs;
    if (ok && state !== "hearing") {
      if (state === "paused") log.info("heartbeats read again for REGISTRY_OFFLINE_AFTER_MS: silent nodes are turned Offline again");
      state = "hearing";
    } else if (!ok && state === "hearing") {
      state = "paused";
      log.warn("heartbeats cannot be read (NATS or the heartbeats stream unavailable): no node is turned Offline until they have been read again for REGISTRY_OFFLINE_AFTER_MS");
    }
    return ok;
  }

  async function check(): Promise<void> {
    if (!heard()) return;
    const now = (deps.clock?.() ?? new Date()).toISOString();
    const silent = [...nodes.values()].filter((n) => n.status === "Online" && n.lastHeartbeat && isStale(n.lastHeartbeat, now, offlineAfterMs));
    for (const node of silent) {
      try {
        const stored = deps.latestStoredHeartbeat ? await deps.latestStoredHeartbeat(node.id) : null;
        if (stored && !isStale(stored, now, offlineAfterMs)) continue; // it beats; the ingest has not folded it yet
        const lastHeartbeat = stored && stored > (node.lastHeartbeat as string) ? stored : (node.lastHeartbeat as string);
        const { written } = await commands.checkLiveness(node.id, lastHeartbeat, offlineAfterMs);
        if (written) log.info({ node: node.id, lastHeartbeat: node.lastHeartbeat }, "node went offline");
      } catch (err) {
        log.warn({ err, node: node.id }, "liveness check failed; checking again next tick");
      }
    }
  }

  const ticker = everyTick(deps.tickMs, check, log, "liveness check");
  return { checkNow: ticker.runNow, stop: ticker.stop };
}
