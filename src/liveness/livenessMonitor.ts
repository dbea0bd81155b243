/**
 * Turns silent nodes Offline. Every registry process checks every node each tick; the
 * node's decider writes NodeWentOffline only while the node is Online, and appends are
 * conditional on the node's version, so several processes checking at once write one
 * event, and a process that dies leaves the others checking.
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
  /** The time decisions are taken at (tests give their own). */
  clock?: () => Date;
}): LivenessMonitor {
  const { nodes, commands, offlineAfterMs, log } = deps;

  async function check(): Promise<void> {
    const now = (deps.clock?.() ?? new Date()).toISOString();
    const silent = [...nodes.values()].filter((n) => n.status === "Online" && n.lastHeartbeat && isStale(n.lastHeartbeat, now, offlineAfterMs));
    for (const node of silent) {
      try {
        const { written } = await commands.checkLiveness(node.id, node.lastHeartbeat as string, offlineAfterMs);
        if (written) log.info({ node: node.id, lastHeartbeat: node.lastHeartbeat }, "node went offline");
      } catch (err) {
        log.warn({ err, node: node.id }, "liveness check failed; checking again next tick");
      }
    }
  }

  const ticker = everyTick(deps.tickMs, check, log, "liveness check");
  return { checkNow: ticker.runNow, stop: ticker.stop };
}
