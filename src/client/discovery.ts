/**
 * A live view of one service's instances: a watch on `<slug>.>` of `registry_instances`,
 * so the service learns of registrations, removals and status changes as they happen,
 * without polling, and without hearing of any other service. `pick()` balances round
 * robin over the instances that take traffic.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Instance } from "../contract/schemas.ts";
import { byId } from "../contract/ids.ts";
import { readInstance } from "../contract/readers.ts";
import { mayTakeTraffic, takesTraffic } from "../domain/instanceHealth.ts";
import { holdsAll } from "../domain/instance.ts";
import { KvMirror } from "../nats/index.ts";
import { unreadableCounter } from "../unreadable.ts";
import { RttProber, RttTable, type RttBounds } from "./rtt.ts";

export type Discovery = {
  slug: string;
  /** Every instance of the slug, as last seen. */
  instances(): Instance[];
  /** Healthy and Degraded instances, Healthy first. */
  healthy(): Instance[];
  /**
   * The next instance to call: round robin over the healthy ones; when none is healthy,
   * over every instance that is not Stopping or Unreachable (as a proxy's panic mode
   * would, rather than failing every call); undefined when there is none at all. With
   * `where`, only among the instances that pass it (`{metadata: {version: "2"}}`).
   */
  pick(where?: PickFilter): Instance | undefined;
  /**
   * Resolves true once `pick()` has an instance to give (at once when it has one), false
   * when none has come within `timeoutMs`: for a caller that starts beside its callee.
   */
  waitForInstances(timeoutMs: number): Promise<boolean>;
  /** The round trip to an instance as measured (ms), when the service has RTT bounds. */
  rttOf(id: string): number | undefined;
  /** A round trip the caller measured on its own call to an instance (ms); it counts with the probes'. */
  recordRtt(id: string, ms: number): void;
  /** Called after every change; returns a function that unsubscribes. */
  onChange(listener: (instances: Instance[]) => void): () => void;
  stop(): void;
};

/**
 * A service's round-trip bounds (its definition's softRttMs/hardRttMs) and how often to
 * probe: `pick()` prefers instances within the soft bound and never picks one beyond the hard.
 */
export type DiscoveryOptions = { rtt?: RttBounds; probeEveryMs?: number };

const DEFAULT_PROBE_EVERY_MS = 5000;
/** Connections a discovery opens at once to probe; more instances wait their turn. */
const MAX_PROBES_IN_FLIGHT = 8;

/** Which instances `pick()` may choose: those holding every metadata pair (and every tag) given. */
export type PickFilter = { metadata?: Record<string, string>; tags?: string[] };

const passes = (where: PickFilter | undefined) => (i: Instance) => where === undefined || holdsAll(i, where);


/** Where a discovery's instances come from: a KV mirror inside the registry's account, a KeysFeed outside it. */
export type InstanceSource = {
  start(): Promise<void>;
  stop(): void;
  values(): IterableIterator<Instance>;
  onChange(listener: () => void): void;
};

/** The KV mirror of one slug's keys, for a caller inside the registry's account. */
export function mirrorOfSlug(deps: { js: JetStreamClient; jsm: JetStreamManager; bucket: string; slug: string; log: Logger }): InstanceSource {
  return new KvMirror<Instance>(deps.js, deps.jsm, deps.bucket, deps.log, { read: readInstance, unreadable: unreadableCounter(deps.log), keys: `${deps.slug}.>` });
}

export async function discover(slug: string, mirror: InstanceSource, opts: DiscoveryOptions = {}): Promise<Discovery> {
  const listeners = new Set<(instances: Instance[]) => void>();
  let next = 0;
  const bounds = opts.rtt;
  const rtts = new RttTable();
  const prober = bounds && new RttProber(rtts, { timeoutMs: Math.max(1000, 2 * (bounds.hardMs ?? 0)), maxInFlight: MAX_PROBES_IN_FLIGHT });
  const probe = (all: boolean) => prober?.probe(mirror.values(), all);
  mirror.onChange(() => {
    const all = [...mirror.values()];
    probe(false);
    for (const l of listeners) l(all);
  });
  await mirror.start();
  probe(true);
  const reprobe = bounds ? setInterval(() => probe(true), opts.probeEveryMs ?? DEFAULT_PROBE_EVERY_MS) : undefined;
  reprobe?.unref();

  const healthy = () => {
    const list = [...mirror.values()].filter((i) => takesTraffic(i.status));
    return [...list.filter((i) => i.status === "Healthy"), ...list.filter((i) => i.status === "Degraded")];
  };
  return {
    slug,
    instances: () => [...mirror.values()],
    healthy,
    pick(where) {
      const wanted = passes(where);
      const reachable = (list: Instance[]) => (bounds ? rtts.within(list, bounds) : list);
      let candidates = reachable(healthy().filter(wanted));
      if (candidates.length === 0) candidates = reachable([...mirror.values()].filter((i) => mayTakeTraffic(i) && wanted(i)));
      if (candidates.length === 0) return undefined;
      candidates.sort(byId); // a stable ring as instances come and go
      return candidates[next++ % candidates.length];
    },
    waitForInstances(timeoutMs) {
      const pickable = () => [...mirror.values()].some(mayTakeTraffic);
      if (pickable()) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (found: boolean) => {
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(found);
        };
        const listener = () => void (pickable() && done(true));
        const timer = setTimeout(() => done(false), timeoutMs);
        listeners.add(listener);
      });
    },
    rttOf: (id) => rtts.get(id),
    recordRtt: (id, ms) => rtts.record(id, ms),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      clearInterval(reprobe);
      prober?.stop();
      mirror.stop();
    },
  };
}
