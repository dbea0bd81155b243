/**
 * Turns silent nodes Offline. Every registry process checks every node each tick; the
 * node's decider writes NodeWentOffline only while the node is Online, and appends are
 * conditional on the node's version, so several processes checking at once write one
 * event, and a process that dies leaves the others checking.
 *
 * A node is silent only if the registry could have heard it. The proof that heartbeats reach
 * the stream is this process's own node's: its agent beats every interval, so while the
 * heartbeats stream's leader has none of it fresher than `ownFreshMs` (NATS unreachable, the
 * cluster without quorum, a write that would only be committed once quorum is back), and for
 * REGISTRY_OFFLINE_AFTER_MS after it has again, no node is turned Offline: nodes that kept
 * beating through an outage of the servers do not go Offline because the servers did. And a node
 * the read model shows silent is checked against the stream itself first: a heartbeat stored
 * there but not folded yet (the ingest catching up) keeps it Online.
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
  /**
   * Checks against the heartbeats stream: when its leader received a node's latest heartbeat
   * (null: none; throws when it cannot be read), this process's own node, and how recent its own
   * heartbeat must be (offline-after less one heartbeat interval: it goes stale before any node
   * beating on the same interval does).
   */
  stream?: { latestStoredHeartbeat(id: string): Promise<string | null>; ownNodeId(): string | undefined; ownFreshMs: number };
  /** The time decisions are taken at (tests give their own). */
  clock?: () => Date;
}): LivenessMonitor {
  const { nodes, commands, offlineAfterMs, log } = deps;

  let state: "starting" | "hearing" | "paused" = "starting";
  let hearingSince: number | undefined;
  /** Whether this process's own heartbeats have reached the stream long enough for silence to mean a silent node. */
  async function heard(): Promise<boolean> {
    const { stream } = deps;
    if (!stream) return true;
    const own = stream.ownNodeId();
    const at = own === undefined ? null : await stream.latestStoredHeartbeat(own).catch(() => null);
    const fresh = at !== null && Date.now() - Date.parse(at) <= stream.ownFreshMs;
    hearingSince = fresh ? (hearingSince ?? Date.now()) : undefined;
    const ok = hearingSince !== undefined && Date.now() - hearingSince >= offlineAfterMs;
    if (ok && state !== "hearing") {
      if (state === "paused") log.info("this process's heartbeats reach the stream again: silent nodes are turned Offline again");
      state = "hearing";
    } else if (!ok && state === "hearing") {
      state = "paused";
      log.warn({ ownNode: own, lastStored: at }, "this process's own heartbeats do not reach the heartbeats stream (NATS or its quorum lost): no node is turned Offline until they have again for REGISTRY_OFFLINE_AFTER_MS");
    }
    return ok;
  }

  async function check(): Promise<void> {
    if (!(await heard())) return;
    const now = (deps.clock?.() ?? new Date()).toISOString();
    const silent = [...nodes.values()].filter((n) => n.status === "Online" && n.lastHeartbeat && isStale(n.lastHeartbeat, now, offlineAfterMs));
    for (const node of silent) {
      try {
        const stored = deps.stream ? await deps.stream.latestStoredHeartbeat(node.id) : null;
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
