/**
 * Nodes. Heartbeats are telemetry, not events: only a node's transitions are decided
 * here (joined, identity changed, went offline, came back, removed), each with its reason.
 */
import type { Gpu, Heartbeat, Node } from "../contract/schemas.ts";
import { nodeNotFound } from "../contract/errors.ts";
import { unhandled, type CommandMetadata, type Decider } from "./decider.ts";
import { EVENT_TYPES, type NodeEvent } from "./events.ts";
import { isNewerTelemetry, telemetryRule } from "./telemetry.ts";

export type NodeState = Node | null;

/**
 * A heartbeat that may change the node's state (the registry skips it when nothing would).
 * `receivedAt` is when the registry's side received it: its clock, not the agent's `at`,
 * dates the node's last heartbeat.
 */
export type ObserveHeartbeat = { type: "ObserveHeartbeat"; data: { heartbeat: Heartbeat; receivedAt: string }; metadata: CommandMetadata };
/** The liveness monitor saw no heartbeat since `lastHeartbeat`. */
export type CheckLiveness = {
  type: "CheckLiveness";
  data: { id: string; lastHeartbeat: string; offlineAfterMs: number };
  metadata: CommandMetadata;
};
/** `whenOffline`: remove it only if it is still Offline (its URL passing to another node); otherwise nothing happens. */
export type RemoveNode = { type: "RemoveNode"; data: { id: string; reason: string; whenOffline?: boolean }; metadata: CommandMetadata };
export type NodeCommand = ObserveHeartbeat | CheckLiveness | RemoveNode;

const IDENTITY = ["url", "region", "availabilityZone"] as const;

/** What a heartbeat tells of a node's use, dated by when the registry received it. */
export type NodeTelemetry = Pick<Node, "lastHeartbeat" | "usage" | "gpus">;

export function heartbeatTelemetry(h: Heartbeat, receivedAt: string): NodeTelemetry {
  return { lastHeartbeat: receivedAt, usage: h.usage, ...(h.gpus !== undefined ? { gpus: h.gpus } : {}) };
}

/** A node's telemetry: its last heartbeat, usage and GPUs (see domain/telemetry.ts). */
export const nodeTelemetry = telemetryRule<Node, NodeTelemetry>({
  of: ({ lastHeartbeat, usage, gpus }) => ({ usage, ...(lastHeartbeat !== undefined ? { lastHeartbeat } : {}), ...(gpus !== undefined ? { gpus } : {}) }),
  with: ({ lastHeartbeat: _at, usage: _usage, gpus: _gpus, ...node }, telemetry) => ({ ...node, ...telemetry }),
});

/** Usage that moves by this many percentage points is stored at once; smaller moves wait for the next record. */
export const USAGE_RECORD_POINTS = 10;

const moved = (a: number | undefined, b: number | undefined) => (a === undefined) !== (b === undefined) || Math.abs((a ?? 0) - (b ?? 0)) >= USAGE_RECORD_POINTS;
const gpuMemoryPercent = (g: Gpu) => (g.memoryUsage !== undefined && g.memoryTotal ? (100 * g.memoryUsage) / g.memoryTotal : undefined);

/**
 * Whether a heartbeat's telemetry is stored, or only kept in memory: the first, one
 * `recordEveryMs` (REGISTRY_NODE_RECORD_MS) after the stored one, and one whose usage (CPU, memory, disk, each GPU's
 * utilisation and memory) moved by USAGE_RECORD_POINTS or whose GPUs changed. A steady node then
 * costs one write per `recordEveryMs`, not one per heartbeat.
 */
export function telemetryNeedsRecord(stored: Node, t: NodeTelemetry, recordEveryMs: number): boolean {
  if (stored.lastHeartbeat === undefined || t.lastHeartbeat === undefined) return true;
  if (Date.parse(t.lastHeartbeat) - Date.parse(stored.lastHeartbeat) >= recordEveryMs) return true;
  const [a, b] = [stored.usage, t.usage];
  if ((a === undefined) !== (b === undefined)) return true;
  if (a && b && (["cpu", "memory", "disk"] as const).some((r) => a[r].total !== b[r].total || moved(a[r].percent, b[r].percent))) return true;
  const [was, now] = [stored.gpus ?? [], t.gpus ?? []];
  if (was.length !== now.length) return true;
  return now.some((g, i) => g.id !== was[i]!.id || moved(g.gpuUtilization, was[i]!.gpuUtilization) || moved(gpuMemoryPercent(g), gpuMemoryPercent(was[i]!)));
}

export function nodeFromHeartbeat(h: Heartbeat, status: Node["status"], receivedAt: string): Node {
  return {
    id: h.id,
    url: h.url,
    ...(h.region !== undefined ? { region: h.region } : {}),
    ...(h.availabilityZone !== undefined ? { availabilityZone: h.availabilityZone } : {}),
    status,
    ...heartbeatTelemetry(h, receivedAt),
  };
}

/** True when `now` is more than `offlineAfterMs` past `lastHeartbeat`. */
export function isStale(lastHeartbeat: string, now: string, offlineAfterMs: number): boolean {
  return Date.parse(now) - Date.parse(lastHeartbeat) > offlineAfterMs;
}

/** Whether a newer heartbeat changes the node's state (an event), not only its telemetry. */
export function heartbeatChangesState(node: Node | null | undefined, h: Heartbeat): boolean {
  return !node || node.status === "Offline" || IDENTITY.some((f) => node[f] !== h[f]);
}

/** Where a policy binds agents' nodes to URLs: the URL of a bound node, the node of a bound URL. */
export type NodeUrlBindings = { urlOf(nodeId: string): string | undefined; nodeAt(url: string): string | undefined };
export const NO_BINDINGS: NodeUrlBindings = { urlOf: () => undefined, nodeAt: () => undefined };

/** Why a node may not hold `url` under the policy's bindings (its own is another, or the URL is another's), or undefined when it may. */
export function boundUrlConflict(bindings: NodeUrlBindings, nodeId: string, url: string): string | undefined {
  const own = bindings.urlOf(nodeId);
  if (own !== undefined && own !== url) return `the policy binds node ${nodeId} to ${own}`;
  const holder = bindings.nodeAt(url);
  if (holder !== undefined && holder !== nodeId) return `the policy binds ${url} to node ${holder}`;
  return undefined;
}

/**
 * Whether a URL passes from the node holding it to one heartbeating with it: when the holder
 * has gone Offline (a machine set up again under a new id, a checkout cloned again), the URL
 * is the newcomer's and the holder is removed, saying why. A policy's binding is checked first
 * (boundUrlConflict): a bound URL passes only to its bound node.
 */
export const urlPassesFrom = (holder: Node): boolean => holder.status === "Offline";
export const urlTakenReason = (holder: Node, claimant: string) => `its URL ${holder.url} passed to node ${claimant}, which heartbeats with it, after this node went offline`;

/**
 * The other node that holds `url`, if any, an Online one first. A node's URL is its own:
 * instances name their node by it, so a heartbeat claiming the URL of another node that is
 * Online (an agent taking over its instances, or two machines configured alike) is refused
 * until that node is removed or goes Offline (urlPassesFrom).
 */
export function urlHolder(nodes: Iterable<Node>, claimant: string, url: string): Node | undefined {
  let offline: Node | undefined;
  for (const n of nodes) {
    if (n.url !== url || n.id === claimant) continue;
    if (!urlPassesFrom(n)) return n;
    offline ??= n;
  }
  return offline;
}

function observe(command: ObserveHeartbeat, state: NodeState): NodeEvent[] {
  const { heartbeat, receivedAt } = command.data;
  const node = nodeFromHeartbeat(heartbeat, "Online", receivedAt);
  if (state === null) return [{ type: "NodeJoined", data: { node, reason: `first heartbeat, received at ${receivedAt}` } }];
  if (!isNewerTelemetry(state, receivedAt) || !heartbeatChangesState(state, heartbeat)) return [];
  if (state.status === "Offline") {
    return [{ type: "NodeCameBack", data: { node, reason: `heartbeat received at ${receivedAt} after none since ${state.lastHeartbeat}` } }];
  }
  const changed = IDENTITY.filter((f) => state[f] !== node[f]);
  return [{ type: "NodeUpdated", data: { node, changed: [...changed], reason: `heartbeat received at ${receivedAt} reports a new ${changed.join(", ")}` } }];
}

function checkLiveness(command: CheckLiveness, state: NodeState): NodeEvent[] {
  const { lastHeartbeat, offlineAfterMs } = command.data;
  const { now } = command.metadata;
  if (state === null || state.status === "Offline" || !isStale(lastHeartbeat, now, offlineAfterMs)) return [];
  if (state.lastHeartbeat !== undefined && Date.parse(state.lastHeartbeat) > Date.parse(lastHeartbeat)) return [];
  const silentFor = ((Date.parse(now) - Date.parse(lastHeartbeat)) / 1000).toFixed(1);
  const node: Node = { ...state, lastHeartbeat, status: "Offline" };
  return [
    { type: "NodeWentOffline", data: { node, reason: `no heartbeat for ${silentFor}s (last at ${lastHeartbeat}; offline after ${offlineAfterMs / 1000}s)` } },
  ];
}

export const nodeDecider: Decider<NodeState, NodeCommand, NodeEvent> = {
  eventTypes: EVENT_TYPES.node,
  initialState: () => null,

  decide(command, state) {
    switch (command.type) {
      case "ObserveHeartbeat":
        return observe(command, state);
      case "CheckLiveness":
        return checkLiveness(command, state);
      case "RemoveNode":
        if (command.data.whenOffline && (state === null || state.status !== "Offline")) return [];
        if (state === null) throw nodeNotFound(command.data);
        return [{ type: "NodeRemoved", data: { id: state.id, url: state.url, reason: command.data.reason } }];
      default:
        return unhandled(command);
    }
  },

  evolve(_state, event) {
    switch (event.type) {
      case "NodeRemoved":
        return null;
      case "NodeJoined":
      case "NodeUpdated":
      case "NodeWentOffline":
      case "NodeCameBack":
        return event.data.node;
      default:
        return unhandled(event);
    }
  },
};

/**
 * Why an offline window is too short for the heartbeat interval, or undefined. Under two
 * intervals, one late heartbeat turns a live node Offline, and the registry's own heartbeat
 * (`ownHeartbeatFreshMs`) has too little slack to tell a late beat from lost servers.
 */
export function offlineWindowProblem(offlineAfterMs: number, intervalMs: number): string | undefined {
  if (offlineAfterMs >= 2 * intervalMs) return undefined;
  return `must be at least two heartbeat intervals (${2 * intervalMs} ms at REGISTRY_HEARTBEAT_INTERVAL_MS ${intervalMs}): under that, one late heartbeat turns a live node Offline; leave it unset for three intervals`;
}

/**
 * How recent this process's own node's latest stored heartbeat must be for silence elsewhere to
 * mean silent nodes: it goes stale before any node beating on the same interval goes Offline, yet
 * an own beat that comes a little late (its usage is read before it is sent) does not pause
 * liveness, which offline-after less one interval did when offline-after is two intervals.
 */
export function ownHeartbeatFreshMs(offlineAfterMs: number, intervalMs: number): number {
  return Math.max(offlineAfterMs - intervalMs, (offlineAfterMs + intervalMs) / 2);
}
