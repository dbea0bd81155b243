/**
 * The registry's Prometheus metrics (`GET /metrics`), names prefixed `registry_`: requests by
 * operation, face and outcome with their latency, events appended, and, read at each scrape,
 * instances by status, services (slugs), nodes by status, events not yet projected, heartbeats
 * folded and refused, data that could not be read, and expiry protection. Plus prom-client's
 * process metrics (CPU, memory, event loop lag).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ExpiryProtection, Instance, Node } from "../contract/schemas.ts";
import type { UnreadableCounts } from "../unreadable.ts";

/** The watchers of the HTTP watch feed: connected, bytes they leave unread, refused for want of a place, cut off by reason. */
export type WatcherStats = { connected: number; bufferedBytes: number; refused: number; cut: Record<string, number> };

export type Metrics = {
  /** One request answered: `outcome` is ok or the error code. */
  observeRequest(face: "nats" | "http", operation: string, outcome: string, seconds: number): void;
  /** One event of this type appended to the event stream. */
  eventAppended(type: string): void;
  render(): Promise<{ contentType: string; body: string }>;
};

export type MetricSources = {
  instances: () => Iterable<Instance>;
  nodes: () => Iterable<Node>;
  /** Events the projector consumer has not yet acknowledged (delivered or not). */
  projectionPending: () => Promise<number>;
  /** `dropped`: left the heartbeats stream unread (a stream-wide count, the same on every process). */
  heartbeats: () => { folded: number; recorded: number; urlTaken: number; dropped: number };
  renewals: () => { heard: number; unknown: number };
  /** DNS queries answered, by rcode, and packets dropped unanswered. */
  dns: () => Record<string, number>;
  /** The slugs whose lease renewals this process hears (its share). */
  leaseSlugsHeard: () => number;
  unreadable: () => UnreadableCounts;
  protection: () => ExpiryProtection | undefined;
  watchers: () => WatcherStats;
  timeTravel: () => { running: number; eventsRead: number; fromSnapshots: number; outcomes: Record<string, number> };
  /** The snapshots this process wrote (undefined until its writer starts). */
  snapshots: () => { written: number; lastSeq: number } | undefined;
  /** Changes to the registry's streams and buckets found by its storage check, by stream. */
  storageChanges: () => Record<string, number>;
};

/** A counter that follows running totals kept elsewhere: at each scrape it moves by what they grew. */
function counterOf(registry: Registry, name: string, help: string, label: string, totals: () => Record<string, number>): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, total] of Object.entries(totals())) {
        this.inc({ [label]: value }, Math.max(0, total - (seen.get(value) ?? 0))); // by 0 too: the series shows from the first scrape
        seen.set(value, total);
      }
    },
  });
}

/** A gauge of how many entities have each status, counted at each scrape. */
function byStatusGauge(registry: Registry, name: string, help: string, entities: () => Iterable<{ status: string }>): void {
  new Gauge({
    name,
    help,
    labelNames: ["status"],
    registers: [registry],
    collect() {
      this.reset();
      const byStatus = new Map<string, number>();
      for (const e of entities()) byStatus.set(e.status, (byStatus.get(e.status) ?? 0) + 1);
      for (const [status, n] of byStatus) this.set({ status }, n);
    },
  });
}

export function registryMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "registry_" });
  const requests = new Counter({ name: "registry_requests_total", help: "Requests answered, by operation (NATS subject), face and outcome (ok or the error code)", labelNames: ["operation", "face", "outcome"], registers: [registry] });
  const duration = new Histogram({
    name: "registry_request_duration_seconds",
    help: "Time to answer a request, by operation (commands include their append and projection)",
    labelNames: ["operation"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const appended = new Counter({ name: "registry_events_appended_total", help: "Events this process appended to the event stream, by event type", labelNames: ["type"], registers: [registry] });

  byStatusGauge(registry, "registry_instances", "Instances in the read model, by status", sources.instances);
  new Gauge({
    name: "registry_services",
    help: "Distinct slugs among the instances",
    registers: [registry],
    collect() {
      const slugs = new Set<string>();
      for (const i of sources.instances()) if (i.slug !== undefined) slugs.add(i.slug);
      this.set(slugs.size);
    },
  });
  byStatusGauge(registry, "registry_nodes", "Nodes in the read model, by status", sources.nodes);
  new Gauge({
    name: "registry_projection_pending_events",
    help: "Events the projector consumer has not acknowledged yet (the projection lag, in events)",
    registers: [registry],
    async collect() {
      this.set(await sources.projectionPending().catch(() => NaN));
    },
  });
  counterOf(registry, "registry_heartbeats_total", "Heartbeats of the nodes this process folds: folded (in memory), recorded (stored in the node's entry: the first, usage that moved, or the coarse record), refused (unreadable), urlTaken (claiming another node's URL), dropped (a new node past REGISTRY_HEARTBEAT_SUBJECTS, or writes already at their limit)", "outcome", () => ({
    ...sources.heartbeats(),
    refused: sources.unreadable().heartbeats,
  }));
  counterOf(registry, "registry_lease_renewals_total", "Lease renewals published on registry.lease.<slug>.<id> of the slugs this process keeps: heard (folded into its memory, nothing stored), unknown (naming no leased instance with that slug)", "outcome", sources.renewals);
  counterOf(registry, "registry_storage_changes_total", "Changes to the registry's streams and buckets made outside it (reconfigured or deleted), found by its storage check, by stream", "stream", sources.storageChanges);
  counterOf(registry, "registry_unreadable_total", "Values from outside that this process could not read and skipped, by kind", "kind", sources.unreadable);
  counterOf(registry, "registry_dns_queries_total", "DNS queries this process answered, by rcode (NOERROR, NXDOMAIN, REFUSED, FORMERR, NOTIMP), and packets it dropped unanswered (dropped: too short to answer, or a response)", "rcode", sources.dns);
  new Gauge({
    name: "registry_lease_slugs_heard",
    help: "Slugs whose lease renewals this process hears and whose leases it keeps (rendezvous over the live registry processes)",
    registers: [registry],
    collect() {
      this.set(sources.leaseSlugsHeard());
    },
  });
  new Gauge({
    name: "registry_expiry_protection",
    help: "Expiry protection: enabled (1 or 0) and engaged (1 while lapsed leases are not expired)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const p = sources.protection();
      this.set({ state: "enabled" }, p?.enabled === false ? 0 : 1);
      this.set({ state: "engaged" }, p?.engaged ? 1 : 0);
    },
  });

  new Gauge({
    name: "registry_watchers",
    help: "Watchers of GET /registry-svc/watch connected now",
    registers: [registry],
    collect() {
      this.set(sources.watchers().connected);
    },
  });
  new Gauge({
    name: "registry_watch_buffered_bytes",
    help: "Bytes the watchers have left unread, held in this process (bounded by REGISTRY_WATCH_TOTAL_BYTES)",
    registers: [registry],
    collect() {
      this.set(sources.watchers().bufferedBytes);
    },
  });
  counterOf(registry, "registry_watchers_refused_total", "Watchers refused with 503 because REGISTRY_WATCHERS_MAX were connected", "reason", () => ({ full: sources.watchers().refused }));
  counterOf(registry, "registry_watchers_cut_total", "Watchers cut off for not reading: over their own buffer (buffer) or while all watchers were over theirs (total)", "reason", () => sources.watchers().cut);

  new Gauge({
    name: "registry_time_travel_running",
    help: "Lists with asOf folding the event stream now (bounded by REGISTRY_TIME_TRAVEL_CONCURRENCY)",
    registers: [registry],
    collect() {
      this.set(sources.timeTravel().running);
    },
  });
  counterOf(registry, "registry_time_travel_total", "Lists with asOf, by outcome: done, refused (too many running), stopped (caller gone or deadline), failed", "outcome", () => sources.timeTravel().outcomes);
  counterOf(registry, "registry_snapshots_total", "Snapshots this process wrote (written), and lists with asOf that started from one (used)", "outcome", () => ({
    written: sources.snapshots()?.written ?? 0,
    used: sources.timeTravel().fromSnapshots,
  }));
  let eventsReadSeen = 0;
  new Counter({
    name: "registry_time_travel_events_read_total",
    help: "Events time travel read from the event stream (what it cost)",
    registers: [registry],
    collect() {
      const total = sources.timeTravel().eventsRead;
      this.inc(Math.max(0, total - eventsReadSeen));
      eventsReadSeen = total;
    },
  });

  return {
    observeRequest(face, operation, outcome, seconds) {
      requests.inc({ operation, face, outcome });
      duration.observe({ operation }, seconds);
    },
    eventAppended(type) {
      appended.inc({ type });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
