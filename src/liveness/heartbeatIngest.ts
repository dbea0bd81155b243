/**
 * Folds heartbeats, core NATS publishes on `<prefix>.heartbeat.<nodeId>`, in memory: nothing
 * is stored per heartbeat. Every registry process hears every heartbeat, and the one that owns
 * the node (rendezvous over the live processes) reads it and folds it: a heartbeat that changes
 * the node's state (first one, one after Offline, a new url/region/zone) runs the node's
 * ObserveHeartbeat command; its telemetry is kept in memory and stored in the node's entry only
 * when telemetryNeedsRecord says (the first, usage that moved, or a coarse record every
 * `recordEveryMs`). Every process also notes when it hears its own node, the proof that
 * heartbeats reach it (livenessMonitor).
 *
 * Heartbeats are untrusted: fields this version does not know are dropped (a newer agent
 * rolls out without being refused), one that cannot be read is skipped and counted, and the
 * time it arrived, not the agent's `at`, is the node's last heartbeat. A new node past
 * `maxNodes` (REGISTRY_HEARTBEAT_SUBJECTS) is not joined: counted as dropped and warned about.
 */
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Entry, Names } from "../contract/names.ts";
import { Heartbeat, type Node } from "../contract/schemas.ts";
import { reader } from "../contract/validate.ts";
import { boundUrlConflict, heartbeatChangesState, heartbeatTelemetry, telemetryNeedsRecord, urlHolder, urlPassesFrom, urlTakenReason, type NodeTelemetry, type NodeUrlBindings } from "../domain/node.ts";
import type { NodeLivenessCommands, NodesView } from "./ports.ts";
import type { Unreadable } from "../unreadable.ts";
import { writeQueue } from "../writeQueue.ts";

/** Folds a heartbeat's telemetry into its node's entry (projector/telemetryWrites.ts). */
export type FoldHeartbeat = (nodeId: string, telemetry: NodeTelemetry, known?: Entry<Node>) => Promise<"written" | "skipped">;

/** Writes (commands and records) in flight at most, and waiting behind them; a heartbeat past both keeps only its memory, and its next one writes. */
const MAX_IN_FLIGHT = 128;
const MAX_QUEUED = 20_000;
/** A heartbeat larger than this is skipped unread (a node with many GPUs is a few KiB; docs/API.md, Limits). */
const HEARTBEAT_MAX_BYTES = 64 * 1024;
/** An agent's clock further off than this is logged (once per node); it changes nothing else. */
const MAX_CLOCK_SKEW_MS = 30_000;
/** Refused URL claims are logged once per node and URL, for this many of them (then only counted). */
const MAX_LOGGED_CLAIMS = 10_000;
/** At most one warning about nodes past REGISTRY_HEARTBEAT_SUBJECTS this often. */
const FULL_WARNING_EVERY_MS = 60_000;
const readHeartbeat = reader(Heartbeat);

export type HeartbeatCounts = { folded: number; recorded: number; urlTaken: number; dropped: number };

/** The nodes whose heartbeats this process folds, the most nodes the registry joins, and heartbeats dropped (new nodes past that, or writes over MAX_IN_FLIGHT). */
export type HeartbeatsState = { nodes: number; maxNodes: number; dropped: number };

export type HeartbeatIngest = {
  stop(): void;
  /** Heartbeats folded in memory, those stored (recorded), those claiming another node's URL, and those dropped, so far. */
  counts(): HeartbeatCounts;
  state(): HeartbeatsState;
  /** When this process last heard the node (epoch ms): read for the nodes it folds, by arrival for the known nodes another process folds. */
  lastHeard(nodeId: string): number | undefined;
  /** When this process last heard its own node's heartbeat (epoch ms), whoever folds it. */
  ownHeardAt(): number | undefined;
};

export function heartbeatIngest(deps: {
  nc: NatsConnection;
  names: Names;
  /** REGISTRY_HEARTBEAT_SUBJECTS: the most nodes the registry joins. */
  maxNodes: number;
  /** REGISTRY_NODE_RECORD_MS: the period of a steady node's coarse record. */
  recordEveryMs: number;
  nodes: NodesView & { size: number };
  /** The nodes holding a URL (an index: a claim is checked without reading every node). */
  nodesWithUrl: (url: string) => Iterable<Node>;
  /** The URLs the policy in force binds agents' nodes to (none without a policy: first come, first served). */
  urlBindings: () => NodeUrlBindings;
  foldHeartbeat: FoldHeartbeat;
  commands: NodeLivenessCommands;
  /** Whether this process folds the node's heartbeats (one live process per node). */
  owns: (nodeId: string) => boolean;
  ownNodeId: () => string | undefined;
  unreadable: Unreadable;
  log: Logger;
  clock?: () => Date;
}): HeartbeatIngest {
  const { nc, names, nodes, commands, unreadable, log } = deps;
  const skewed = new Set<string>();
  const counts: HeartbeatCounts = { folded: 0, recorded: 0, urlTaken: 0, dropped: 0 };
  const loggedClaims = new Set<string>();
  /** URLs whose claim this process is writing (url → node): a claim is checked against those too. */
  const claiming = new Map<string, string>();
  /** The last heartbeat heard of each node this process folds (epoch ms). */
  const heard = new Map<string, number>();
  /**
   * When a heartbeat last arrived for each known node another process folds, unread: should that
   * process stop, this one takes the node over knowing its real silence (it had only the stored
   * record, up to REGISTRY_NODE_RECORD_MS old, and wrote "no heartbeat for 59 s" of a node heard 24 s before).
   */
  const arrivedElsewhere = new Map<string, number>();
  let ownHeardAt: number | undefined;
  let fullWarnedAt = Number.NEGATIVE_INFINITY;
  const subjectPrefix = names.heartbeatSubject("");

  /**
   * The heartbeat as it may be taken: as it is (with the Offline node whose URL passes to it,
   * see urlPassesFrom), or, when it claims a URL that another node holds or that the policy
   * does not bind to it, with the node's own URL kept (a known node) or not at all (a new one);
   * logged and counted.
   */
  function claimOf(h: Heartbeat, known: Node | undefined): { heartbeat: Heartbeat; replaces?: Node } | undefined {
    const unbound = boundUrlConflict(deps.urlBindings(), h.id, h.url);
    if (unbound === undefined && known?.url === h.url) return { heartbeat: h };
    const claimer = claiming.get(h.url);
    const rival = claimer !== undefined && claimer !== h.id ? claimer : undefined;
    const holding = urlHolder(deps.nodesWithUrl(h.url), h.id, h.url);
    if (unbound === undefined && rival === undefined && (holding === undefined || urlPassesFrom(holding))) return { heartbeat: h, ...(holding ? { replaces: holding } : {}) };
    const holder = holding?.id ?? rival;
    counts.urlTaken++;
    const key = `${h.id} ${h.url}`;
    if (!loggedClaims.has(key) && loggedClaims.size < MAX_LOGGED_CLAIMS) {
      loggedClaims.add(key);
      const kept = known?.url ?? null;
      if (unbound !== undefined) {
        log.warn({ node: h.id, url: h.url, kept }, `heartbeat refused: ${unbound} (set the agent's OB_SELF_URL to the URL its policy entry binds, or change the policy's nodes)`);
      } else {
        log.warn(
          { node: h.id, url: h.url, holder, kept },
          known ? "heartbeat refused a URL another node holds; the node keeps its own (remove the holder first: registry node rm)" : "node not joined: its URL is another node's (remove that node first: registry node rm, or give this one its own OB_SELF_URL)",
        );
      }
    }
    return known ? { heartbeat: { ...h, url: known.url } } : undefined;
  }

  function read(m: Msg, id: string): Heartbeat | undefined {
    let result;
    if (m.data.length > HEARTBEAT_MAX_BYTES) result = { ok: false as const, reason: `larger than ${HEARTBEAT_MAX_BYTES / 1024} KiB` };
    else {
      try {
        result = readHeartbeat(m.json());
      } catch {
        result = { ok: false as const, reason: "not JSON" };
      }
    }
    if (result.ok && result.value.id !== id) result = { ok: false as const, reason: `it says it is from node ${result.value.id}` };
    if (result.ok) return result.value;
    unreadable.skip("heartbeats", m.subject, result.reason, { subject: m.subject });
    return undefined;
  }

  const writes = writeQueue({ maxInFlight: MAX_IN_FLIGHT, maxQueued: MAX_QUEUED, log, what: "heartbeat's write" });
  /** Runs a write, or queues it; past both limits the heartbeat is dropped, and its node's next one writes. */
  const write = (work: () => Promise<void>, failed?: () => void): void => {
    if (!writes.push(work, failed)) counts.dropped++;
  };

  /** New nodes this process is joining, until its read model has them: counted against maxNodes too. */
  const joining = new Set<string>();
  function joinRefusedWhenFull(id: string): boolean {
    // Joins the read model has caught up with stop counting twice; looked for only near the limit.
    if (nodes.size + joining.size >= deps.maxNodes) for (const j of joining) if (nodes.entry(j)) joining.delete(j);
    if (nodes.size + joining.size < deps.maxNodes) {
      joining.add(id);
      return false;
    }
    counts.dropped++;
    if (Date.now() - fullWarnedAt >= FULL_WARNING_EVERY_MS) {
      fullWarnedAt = Date.now();
      log.warn({ node: id, nodes: nodes.size, maxNodes: deps.maxNodes }, "node not joined: the registry holds REGISTRY_HEARTBEAT_SUBJECTS nodes already; raise it, or remove nodes that are gone (without REGISTRY_POLICY any client can heartbeat as new nodes)");
    }
    return true;
  }

  function fold(m: Msg, id: string): void {
    const h = read(m, id);
    if (!h) return;
    const now = deps.clock?.() ?? new Date();
    const receivedAt = now.toISOString();
    if (h.at !== undefined && Math.abs(Date.parse(h.at) - now.getTime()) > MAX_CLOCK_SKEW_MS && !skewed.has(h.id)) {
      skewed.add(h.id);
      log.warn({ node: h.id, at: h.at, receivedAt }, "node's clock is off; its heartbeats are dated by when they arrive");
    }
    const known = nodes.entry(h.id);
    const claim = claimOf(h, known?.value);
    if (!claim || (!known && joinRefusedWhenFull(h.id))) return;
    const taken = claim.heartbeat;
    const telemetry = heartbeatTelemetry(h, receivedAt);
    counts.folded++;
    if (known && !heartbeatChangesState(known.value, taken)) {
      hear(h.id, now.getTime());
      if (telemetryNeedsRecord(known.value, telemetry, deps.recordEveryMs)) write(() => record(h.id, telemetry, known));
      return;
    }
    write(async () => {
      claiming.set(taken.url, taken.id);
      try {
        if (claim.replaces) {
          const { node: left, written: removed } = await commands.removeOfflineNode(claim.replaces.id, urlTakenReason(claim.replaces, taken.id));
          if (removed) log.info({ node: claim.replaces.id, url: taken.url, by: taken.id }, "offline node removed: its URL passed to the node heartbeating with it");
          if (left !== null) return; // it came back meanwhile: the next heartbeat finds it Online and is refused
        }
        const { written, node } = await commands.observeHeartbeat(taken, receivedAt);
        if (written) log.info({ node: h.id, status: node?.status }, "node state changed by heartbeat");
      } finally {
        if (claiming.get(taken.url) === taken.id) claiming.delete(taken.url);
      }
      hear(h.id, now.getTime()); // a write that waited in the queue must not put back an older time
      await record(h.id, telemetry, nodes.entry(h.id));
    }, () => joining.delete(h.id));
  }

  const hear = (id: string, at: number) => heard.set(id, Math.max(heard.get(id) ?? 0, at));

  /** A heartbeat another process folds now: its arrival noted for a known node only (a made-up subject adds nothing). */
  function heardElsewhere(id: string): void {
    heard.delete(id);
    if (!nodes.entry(id)) return;
    arrivedElsewhere.set(id, Date.now());
    if (arrivedElsewhere.size > 2 * nodes.size + 100) for (const known of arrivedElsewhere.keys()) if (!nodes.entry(known)) arrivedElsewhere.delete(known);
  }

  async function record(id: string, telemetry: NodeTelemetry, known: Entry<Node> | undefined): Promise<void> {
    if ((await deps.foldHeartbeat(id, telemetry, known)) === "written") counts.recorded++;
  }

  const sub = nc.subscribe(names.heartbeatSubjects, {
    callback: (err, m) => {
      if (err) return log.warn({ err }, "heartbeats subscription failed");
      const id = m.subject.slice(subjectPrefix.length);
      if (id === deps.ownNodeId()) ownHeardAt = Date.now();
      if (deps.owns(id)) fold(m, id);
      else heardElsewhere(id);
    },
  });

  return {
    stop: () => sub.unsubscribe(),
    counts: () => ({ ...counts }),
    state: () => ({ nodes: heard.size, maxNodes: deps.maxNodes, dropped: counts.dropped }),
    lastHeard: (id) => {
      const at = Math.max(heard.get(id) ?? 0, arrivedElsewhere.get(id) ?? 0);
      return at > 0 ? at : undefined;
    },
    ownHeardAt: () => ownHeardAt,
  };
}
