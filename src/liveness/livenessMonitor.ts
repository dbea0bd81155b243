/**
 * Turns silent nodes Offline. Each node is checked by the registry process that folds its
 * heartbeats (heartbeatIngest, one live process per node), against the last heartbeat it heard
 * in memory or the one stored, whichever is later. The node's decider writes NodeWentOffline only
 * while the node is Online, and appends are conditional on the node's version, so two processes
 * checking one node while the live processes change write one event.
 *
 * A node is silent only if the registry could have heard it. The proof that heartbeats reach
 * this process is its own node's: its agent beats every interval, so while this process has not
 * heard its own heartbeat within `ownFreshMs` (NATS unreachable, a disconnect) and for
 * REGISTRY_OFFLINE_AFTER_MS after it has again (a start, a reconnect), no node is turned Offline:
 * nodes that kept beating while the registry could not hear them do not go Offline for it. A node
 * this process has just taken over (a process started or left) gets the same window from then,
 * since its heartbeats went to the process that folded them before.
 */
import type { Logger } from "pino";
import type { NodeLivenessCommands, NodesView } from "./ports.ts";
import { checksWhenDue, everyTick } from "../ticker.ts";
import type { Node } from "../contract/schemas.ts";
import { eachAtMost } from "../writeQueue.ts";

/** Nodes turned Offline at once in a tick: a rack going silent is decided within the tick. */
const DECISIONS_AT_ONCE = 32;

export type LivenessMonitor = { stop(): void; checkNow(): Promise<void> };

export function livenessMonitor(deps: {
  nodes: NodesView;
  commands: NodeLivenessCommands;
  offlineAfterMs: number;
  tickMs: number;
  log: Logger;
  /** Whether this process folds (and so checks) the node. */
  owns: (nodeId: string) => boolean;
  /** What this process heard: each node it folds (epoch ms), and its own node, and how recent its own heartbeat must be. */
  heard: { lastHeard(id: string): number | undefined; ownHeardAt(): number | undefined; ownFreshMs: number };
  /** The time decisions are taken at (tests give their own). */
  clock?: () => Date;
}): LivenessMonitor {
  const { nodes, commands, offlineAfterMs, log } = deps;

  let state: "starting" | "hearing" | "paused" = "starting";
  let hearingSince: number | undefined;
  /** Whether this process has heard its own heartbeats long enough for silence to mean a silent node. */
  function hearing(): boolean {
    const at = deps.heard.ownHeardAt();
    const fresh = at !== undefined && Date.now() - at <= deps.heard.ownFreshMs;
    hearingSince = fresh ? (hearingSince ?? Date.now()) : undefined;
    const ok = hearingSince !== undefined && Date.now() - hearingSince >= offlineAfterMs;
    if (ok && state !== "hearing") {
      if (state === "paused") log.info("this process hears its own heartbeats again: silent nodes are turned Offline again");
      state = "hearing";
    } else if (!ok && state === "hearing") {
      state = "paused";
      log.warn({ lastHeard: at === undefined ? null : new Date(at).toISOString() }, "this process does not hear its own node's heartbeats (NATS lost): no node is turned Offline until it has for REGISTRY_OFFLINE_AFTER_MS");
    }
    return ok;
  }

  /** Since when this process has checked each node it checks (epoch ms): one taken over gets a whole window. */
  const checkedSince = new Map<string, number>();

  const lastHeardOf = (node: Node) => Math.max(deps.heard.lastHeard(node.id) ?? 0, node.lastHeartbeat ? Date.parse(node.lastHeartbeat) : 0);

  async function turnOffline(id: string, lastHeartbeat: string): Promise<void> {
    const { written } = await commands.checkLiveness(id, lastHeartbeat, offlineAfterMs);
    if (written) log.info({ node: id, lastHeartbeat }, "node went offline");
  }

  /** A node whose offline window ends between two ticks is turned Offline when it does, unless it beat meanwhile. */
  async function offlineIfDue(id: string): Promise<void> {
    const node = nodes.entry(id)?.value;
    if (!node || node.status !== "Online" || state !== "hearing" || !deps.owns(id)) return;
    const last = lastHeardOf(node);
    if (Date.now() - last > offlineAfterMs) await turnOffline(id, new Date(last).toISOString());
  }
  const whenDue = checksWhenDue(log, "liveness check");

  async function check(): Promise<void> {
    const nowMs = (deps.clock?.() ?? new Date()).getTime();
    const heard = hearing();
    const silent: { id: string; lastHeartbeat: string }[] = [];
    for (const node of nodes.values()) {
      if (!deps.owns(node.id)) {
        checkedSince.delete(node.id);
        continue;
      }
      const since = checkedSince.get(node.id) ?? nowMs;
      checkedSince.set(node.id, since);
      if (!heard || node.status !== "Online" || nowMs - since <= offlineAfterMs) continue;
      const last = lastHeardOf(node);
      if (nowMs - last > offlineAfterMs) silent.push({ id: node.id, lastHeartbeat: new Date(last).toISOString() });
      else if (last + offlineAfterMs <= nowMs + deps.tickMs) whenDue.at(last + offlineAfterMs, node.id, () => offlineIfDue(node.id));
    }
    await eachAtMost(silent, DECISIONS_AT_ONCE, async ({ id, lastHeartbeat }) => {
      try {
        await turnOffline(id, lastHeartbeat);
      } catch (err) {
        log.warn({ err, node: id }, "liveness check failed; checking again next tick");
      }
    });
    for (const id of checkedSince.keys()) if (!nodes.entry(id)) checkedSince.delete(id);
  }

  const ticker = everyTick(deps.tickMs, check, log, "liveness check");
  return {
    checkNow: ticker.runNow,
    stop() {
      ticker.stop();
      whenDue.stop();
    },
  };
}
