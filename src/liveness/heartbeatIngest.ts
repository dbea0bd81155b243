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
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type JsMsg, type StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { durableWorker } from "../nats/durableWorker.ts";
import { everyTick } from "../ticker.ts";
import type { Entry, Names } from "../contract/names.ts";
import { Heartbeat, type Node } from "../contract/schemas.ts";
import { reader } from "../contract/validate.ts";
import { boundUrlConflict, heartbeatChangesState, heartbeatTelemetry, isStale, urlHolder, urlPassesFrom, urlTakenReason, type NodeTelemetry, type NodeUrlBindings } from "../domain/node.ts";
import { isNewerTelemetry } from "../domain/telemetry.ts";
import type { NodeLivenessCommands, NodesView } from "./ports.ts";
import type { Unreadable } from "../unreadable.ts";

/** Folds a heartbeat's telemetry into its node's entry (projector/telemetryWrites.ts). */
export type FoldHeartbeat = (nodeId: string, telemetry: NodeTelemetry, known?: Entry<Node>) => Promise<"written" | "skipped">;

export const HEARTBEATS_DURABLE = "heartbeats";
/** Heartbeats older than this say nothing about now; the stream forgets them. */
const HEARTBEAT_MAX_AGE_MS = 60 * 60_000;
/** A heartbeat larger than this is refused by the stream (a node with many GPUs is a few KiB). */
const HEARTBEAT_MAX_BYTES = 64 * 1024;

/**
 * The heartbeats stream: telemetry, the latest heartbeat per node, in memory (a restarted
 * nats-server loses it, and the registry creates it again on reconnect), bounded in
 * subjects (`maxNodes`, the oldest go first), age and message size.
 */
export function heartbeatsStreamConfig(names: Names, maxNodes: number): Partial<StreamConfig> & { name: string } {
  return {
    name: names.heartbeatsStream,
    description: "Node heartbeats: telemetry, the latest per node. Not events.",
    subjects: [names.heartbeatSubjects],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
    max_msgs: maxNodes,
    max_age: nanos(HEARTBEAT_MAX_AGE_MS),
    max_msg_size: HEARTBEAT_MAX_BYTES,
    allow_direct: true,
  };
}

/** The consumer shared by every registry process: each heartbeat is folded by one of them. */
export function heartbeatsConsumerConfig(names: Names): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: HEARTBEATS_DURABLE,
    description: "Folds heartbeats into the nodes bucket; shared by every registry process.",
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All, // the stream keeps one heartbeat per node
    filter_subject: names.heartbeatSubjects,
  };
}
const MAX_IN_FLIGHT = 128;
/** An agent's clock further off than this is logged (once per node); it changes nothing else. */
const MAX_CLOCK_SKEW_MS = 30_000;
/** Refused URL claims are logged once per node and URL, for this many of them (then only counted). */
const MAX_LOGGED_CLAIMS = 10_000;
const readHeartbeat = reader(Heartbeat);

export type HeartbeatIngest = {
  run(): Promise<void>;
  stop(): Promise<void>;
  /** Heartbeats folded into the nodes bucket, those too old to say anything, and those claiming another node's URL, so far. */
  counts(): { folded: number; stale: number; urlTaken: number };
  /** The heartbeats stream against REGISTRY_HEARTBEAT_SUBJECTS, and the heartbeats it dropped unread (as of the last check). */
  stream(): HeartbeatsStreamState;
  /** Checks the stream now (it is checked every `checkMs`). */
  checkStream(): Promise<void>;
  /** When the stream received the node's latest heartbeat (null: it holds none); throws when the stream cannot be read. */
  latestStored(nodeId: string): Promise<string | null>;
};

/**
 * `dropped`: heartbeats that left the stream before any registry process read them, counted by
 * the shared consumer (the stream sequences it skipped), so every process reports the same:
 * pushed out when more nodes heartbeat than the stream keeps, or replaced by the node's next
 * one while the registry lagged a whole interval behind.
 */
export type HeartbeatsStreamState = { nodes: number; maxNodes: number; dropped: number };

/** At most one warning about dropped heartbeats this often. */
const DROPPED_WARNING_EVERY_MS = 60_000;

export function heartbeatIngest(deps: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  /** REGISTRY_HEARTBEAT_SUBJECTS: the nodes the stream keeps a heartbeat of. */
  maxNodes: number;
  checkMs: number;
  nodes: NodesView;
  /** The nodes holding a URL (an index: a claim is checked without reading every node). */
  nodesWithUrl: (url: string) => Iterable<Node>;
  /** The URLs the policy in force binds agents' nodes to (none without a policy: first come, first served). */
  urlBindings: () => NodeUrlBindings;
  foldHeartbeat: FoldHeartbeat;
  commands: NodeLivenessCommands;
  offlineAfterMs: number;
  unreadable: Unreadable;
  log: Logger;
  clock?: () => Date;
}): HeartbeatIngest {
  const { js, names, nodes, commands, unreadable, log } = deps;
  const skewed = new Set<string>();
  const counts = { folded: 0, stale: 0, urlTaken: 0 };
  const loggedClaims = new Set<string>();
  /** URLs whose claim this process is writing (url → node): a claim is checked against those too. */
  const claiming = new Map<string, string>();

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
    if (isStale(receivedAt, now.toISOString(), deps.offlineAfterMs)) {
      counts.stale++;
      return; // an old heartbeat says nothing about now
    }
    if (h.at !== undefined && Math.abs(Date.parse(h.at) - Date.parse(receivedAt)) > MAX_CLOCK_SKEW_MS && !skewed.has(h.id)) {
      skewed.add(h.id);
      log.warn({ node: h.id, at: h.at, receivedAt }, "node's clock is off; its heartbeats are dated by when they arrive");
    }
    const known = nodes.entry(h.id);
    if (known && !isNewerTelemetry(known.value, receivedAt)) return;
    const claim = claimOf(h, known?.value);
    if (!claim) return;
    const taken = claim.heartbeat;
    if (heartbeatChangesState(known?.value, taken)) {
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
    }
    const outcome = await deps.foldHeartbeat(h.id, heartbeatTelemetry(h, receivedAt), known);
    if (outcome === "written") counts.folded++;
  }

  const streamState: HeartbeatsStreamState = { nodes: 0, maxNodes: deps.maxNodes, dropped: 0 };
  let skippedBefore = 0;
  let warnedAt = Number.NEGATIVE_INFINITY;
  async function checkStream(): Promise<void> {
    const [stream, consumer] = await Promise.all([deps.jsm.streams.info(names.heartbeatsStream), deps.jsm.consumers.info(names.heartbeatsStream, HEARTBEATS_DURABLE)]);
    // Sequences the consumer passed over; it starts again at 0 when re-created (a restarted nats-server).
    const skipped = Math.max(0, consumer.delivered.stream_seq - consumer.delivered.consumer_seq);
    const grown = skipped >= skippedBefore ? skipped - skippedBefore : skipped;
    skippedBefore = skipped;
    streamState.nodes = stream.state.num_subjects ?? stream.state.messages;
    streamState.dropped += grown;
    const full = stream.state.messages >= deps.maxNodes;
    if ((grown > 0 || full) && Date.now() - warnedAt >= DROPPED_WARNING_EVERY_MS) {
      warnedAt = Date.now();
      log.warn(
        { stream: names.heartbeatsStream, ...streamState, droppedSinceLastCheck: grown },
        full
          ? "heartbeats stream is at REGISTRY_HEARTBEAT_SUBJECTS: more nodes heartbeat than it keeps, so heartbeats are pushed out and nodes past the limit may never join or may go Offline; raise REGISTRY_HEARTBEAT_SUBJECTS (without REGISTRY_POLICY any client can heartbeat as new nodes)"
          : "heartbeats were dropped before the registry read them (it lagged a whole heartbeat interval); see registry_heartbeats_total",
      );
    }
  }
  const checker = everyTick(deps.checkMs, checkStream, log, "heartbeats stream check");

  const worker = durableWorker({
    js,
    stream: names.heartbeatsStream,
    durable: HEARTBEATS_DURABLE,
    handle: (m) => fold(m).catch((err) => log.warn({ err, subject: m.subject }, "heartbeat not folded; the next one will be")),
    maxInFlight: MAX_IN_FLIGHT,
    log,
  });
  return {
    run() {
      void checker.runNow();
      return worker.run();
    },
    async stop() {
      checker.stop();
      await worker.stop();
    },
    counts: () => ({ ...counts }),
    stream: () => ({ ...streamState }),
    async latestStored(nodeId) {
      // From the stream's leader, not a direct get: a replica catching up after a restart answers those with what it has.
      const m = await deps.jsm.streams.getMessage(names.heartbeatsStream, { last_by_subj: names.heartbeatSubject(nodeId) });
      return m ? m.time.toISOString() : null;
    },
    checkStream: checker.runNow,
  };
}
