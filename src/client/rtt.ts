/**
 * Round trips from this caller to a service's instances, as seed 004's proxy keeps them:
 * measured by a light probe (the time a TCP connection to the instance takes to open) and by
 * what the caller reports of its own calls, smoothed so one slow call does not swing a choice.
 */
import { connect } from "node:net";
import type { Instance } from "../contract/schemas.ts";

/** softMs: preferred within; hardMs: never beyond. */
export type RttBounds = { softMs?: number; hardMs?: number };

/** How much a new sample moves the kept figure. */
const WEIGHT = 0.3;
const DEFAULT_PORTS: Record<string, number> = { http: 80, ws: 80, https: 443, wss: 443, grpcs: 443 };

export function probeTarget(i: Instance): { host: string; port: number } | undefined {
  const host = i.ip ?? i.host;
  const port = i.port ?? (i.scheme ? DEFAULT_PORTS[i.scheme] : undefined);
  return host !== undefined && port !== undefined ? { host: host.replace(/^\[|\]$/g, ""), port } : undefined;
}

/** How long a TCP connection to the target takes to open, in ms; Infinity past `timeoutMs`, undefined when refused. */
export function probeRtt(target: { host: string; port: number }, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: target.host, port: target.port });
    const done = (rtt: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(rtt);
    };
    const timer = setTimeout(() => done(Infinity), timeoutMs);
    socket.once("connect", () => done(performance.now() - started));
    socket.once("error", () => done(undefined));
  });
}

/**
 * Probes instances into a table, at most `maxInFlight` at once (the rest wait their turn) and
 * one probe per instance at a time, so a service with thousands of instances is probed as a
 * trickle, not a burst of connections.
 */
export class RttProber {
  readonly #queue: { id: string; target: { host: string; port: number } }[] = [];
  readonly #queued = new Set<string>();
  #inFlight = 0;
  #stopped = false;

  constructor(
    private readonly table: RttTable,
    private readonly opts: { timeoutMs: number; maxInFlight: number; probe?: typeof probeRtt },
  ) {}

  /** Probes these instances: all of them, or (`all` false) only those not yet measured. */
  probe(instances: Iterable<Instance>, all: boolean): void {
    const ids = new Set<string>();
    for (const i of instances) {
      ids.add(i.id);
      const target = probeTarget(i);
      if (!target || this.#queued.has(i.id) || (!all && this.table.get(i.id) !== undefined)) continue;
      this.#queued.add(i.id);
      this.#queue.push({ id: i.id, target });
    }
    this.table.forget(ids);
    this.#drain();
  }

  /** Drops what waits; probes under way end at their timeout and record nothing. */
  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
  }

  #drain(): void {
    while (!this.#stopped && this.#inFlight < this.opts.maxInFlight && this.#queue.length > 0) {
      const { id, target } = this.#queue.shift()!;
      this.#inFlight++;
      void (this.opts.probe ?? probeRtt)(target, this.opts.timeoutMs).then((ms) => {
        this.#inFlight--;
        this.#queued.delete(id);
        if (ms !== undefined && !this.#stopped) this.table.record(id, ms);
        this.#drain();
      });
    }
  }
}

export class RttTable {
  readonly #rtt = new Map<string, number>();

  /** A sample of the round trip to an instance, in ms. */
  record(id: string, ms: number): void {
    const kept = this.#rtt.get(id);
    this.#rtt.set(id, kept === undefined || !Number.isFinite(kept) || !Number.isFinite(ms) ? ms : kept + WEIGHT * (ms - kept));
  }

  get(id: string): number | undefined {
    return this.#rtt.get(id);
  }

  forget(keep: Set<string>): void {
    for (const id of this.#rtt.keys()) if (!keep.has(id)) this.#rtt.delete(id);
  }

  /**
   * The candidates a caller with these bounds may call, preferred first: those measured
   * within the soft bound, else the rest within the hard bound (and the not yet measured);
   * never one measured beyond the hard bound.
   */
  within(candidates: Instance[], bounds: RttBounds): Instance[] {
    const { softMs = Infinity, hardMs = Infinity } = bounds;
    const allowed = candidates.filter((i) => !((this.#rtt.get(i.id) ?? 0) > hardMs));
    const preferred = allowed.filter((i) => (this.#rtt.get(i.id) ?? Infinity) <= softMs);
    return preferred.length > 0 ? preferred : allowed;
  }
}
