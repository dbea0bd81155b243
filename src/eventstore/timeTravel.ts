/**
 * Time travel: the registry's state as it was at a time or after a stream sequence, folded
 * from the events up to then (each entity's latest event carries its whole state). It reads
 * the stream from its start, so it costs a pass over the history kept; events dropped by the
 * per-entity limit are not there to fold. Telemetry is as of each entity's last event.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Names } from "../contract/names.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { definitionDecider } from "../domain/definition.ts";
import type { DefinitionEvent, InstanceEvent, NodeEvent, RegistryEvent } from "../domain/events.ts";
import { instanceDecider } from "../domain/instance.ts";
import { nodeDecider } from "../domain/node.ts";
import type { Unreadable } from "../unreadable.ts";
import { readEvents } from "./readEvents.ts";
import { RegistryError } from "../contract/errors.ts";

export type PastState = { definitions: Definition[]; instances: Instance[]; nodes: Node[] };

/** Limits of time travel: how many run at once (REGISTRY_TIME_TRAVEL_CONCURRENCY), and how long one may read (REGISTRY_TIME_TRAVEL_TIMEOUT_MS). */
export type TimeTravelLimits = { maxConcurrent: number; timeoutMs: number };

export type TimeTravelOutcome = "done" | "refused" | "stopped" | "failed";

/** What time travel has cost this process: queries by outcome, those running, events read. */
export type TimeTravelCounts = { running: number; eventsRead: number; outcomes: Record<TimeTravelOutcome, number> };

/** How much work runs between two yields to the event loop, so that ordinary reads are answered meanwhile. */
const SLICE_MS = 5;

/**
 * Time travel with its bounds: at most `maxConcurrent` at once (one more is refused with 503),
 * each stopped when its caller stops waiting (`signal`: the HTTP connection closed) or at its
 * deadline, whichever is first; it yields to the event loop every few milliseconds.
 */
export function boundedTimeTravel(deps: StateAsOfDeps, limits: TimeTravelLimits) {
  const counts: TimeTravelCounts = { running: 0, eventsRead: 0, outcomes: { done: 0, refused: 0, stopped: 0, failed: 0 } };
  const read = (n: number) => {
    counts.eventsRead += n;
    deps.progress?.(n);
  };
  return {
    counts: (): TimeTravelCounts => ({ ...counts, outcomes: { ...counts.outcomes } }),
    async stateAsOf(asOf: string | number, signal?: AbortSignal): Promise<PastState> {
      if (counts.running >= limits.maxConcurrent) {
        counts.outcomes.refused++;
        throw new RegistryError(
          503,
          `${counts.running} time-travel queries (asOf) are running, the most this registry runs at once (REGISTRY_TIME_TRAVEL_CONCURRENCY); retry in a moment, or list without asOf`,
        );
      }
      counts.running++;
      const deadline = AbortSignal.timeout(limits.timeoutMs);
      try {
        const past = await stateAsOf({ ...deps, progress: read }, asOf, signal ? AbortSignal.any([signal, deadline]) : deadline);
        counts.outcomes.done++;
        return past;
      } catch (err) {
        if (err instanceof StoppedError) {
          counts.outcomes.stopped++;
          if (signal?.aborted) throw new RegistryError(503, `time travel stopped after ${err.eventsRead} events: the caller stopped waiting`);
          throw new RegistryError(
            503,
            `time travel stopped at its deadline of ${limits.timeoutMs} ms (REGISTRY_TIME_TRAVEL_TIMEOUT_MS) after ${err.eventsRead} events of the history; an earlier asOf reads less, or raise REGISTRY_TIME_TRAVEL_TIMEOUT_MS`,
          );
        }
        counts.outcomes.failed++;
        throw err;
      } finally {
        counts.running--;
      }
    },
  };
}

class StoppedError extends Error {
  constructor(readonly eventsRead: number) {
    super(`time travel stopped after ${eventsRead} events`);
  }
}

type StateAsOfDeps = {
  js: JetStreamClient;
  names: Names;
  unreadable: Unreadable;
  /** Told of the events read, a slice at a time. */
  progress?: (events: number) => void;
};

/**
 * `asOf`: an RFC 3339 time, or the stream sequence of the last event to fold. Reading stops
 * (StoppedError) once `signal` aborts: it is checked at each event, and between slices of work
 * the event loop gets its turn.
 */
export async function stateAsOf(deps: StateAsOfDeps, asOf: string | number, signal?: AbortSignal): Promise<PastState> {
  const { js, names } = deps;
  const latest = new Map<string, RegistryEvent>();
  const until = typeof asOf === "number" ? asOf : Date.parse(asOf);
  let eventsRead = 0;
  let inSlice = 0;
  let sliceStarted = performance.now();
  for await (const { event, seq, subject } of readEvents({ js, stream: names.eventsStream, unreadable: deps.unreadable }, names.eventSubjects, "all", { signal })) {
    if (signal?.aborted) break; // leaving the loop stops the consumer
    eventsRead++;
    inSlice++;
    if (performance.now() - sliceStarted >= SLICE_MS) {
      deps.progress?.(inSlice);
      inSlice = 0;
      await new Promise((resolve) => setImmediate(resolve));
      sliceStarted = performance.now();
    }
    if (typeof asOf === "number" && seq > until) break;
    if (typeof asOf === "string" && Date.parse(event.metadata.at) > until) break;
    latest.set(subject, event);
  }
  deps.progress?.(inSlice);
  if (signal?.aborted) throw new StoppedError(eventsRead); // even if it came as the last event did: no one waits for the answer
  const past: PastState = { definitions: [], instances: [], nodes: [] };
  for (const [subject, event] of latest) {
    // Each entity's subject holds only its own events (readEvent checks), so its kind says which fold applies.
    const entity = names.eventSubjectParts(subject)?.entity;
    if (entity === "definition") push(past.definitions, definitionDecider.evolve(null, event as DefinitionEvent));
    else if (entity === "instance") push(past.instances, instanceDecider.evolve(null, event as InstanceEvent));
    else if (entity === "node") push(past.nodes, nodeDecider.evolve(null, event as NodeEvent));
  }
  return past;
}

const push = <T>(list: T[], value: T | null) => void (value !== null && list.push(value));
