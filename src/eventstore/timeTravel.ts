/**
 * Time travel: the registry's state as it was at a time or after a stream sequence, folded
 * from the events up to then (each entity's latest event carries its whole state), starting
 * from the newest trusted snapshot before then. Without a snapshot it costs a pass over the
 * history kept, and events dropped by the per-entity limit are not there to fold; a snapshot
 * holds what was folded when it was written. Telemetry is as of each entity's last event.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Names } from "../contract/names.ts";
import type { PastScope } from "../contract/readModels.ts";
import { Definition as DefinitionSchema, Instance as InstanceSchema, Node as NodeSchema, type Definition, type Instance, type Node } from "../contract/schemas.ts";
import { reader } from "../contract/validate.ts";
import { LONG_PASS_BATCH, readSubjects } from "../nats/readSubjects.ts";
import type { Unreadable } from "../unreadable.ts";
import { eventOf } from "./readEvents.ts";
import { RegistryError } from "../contract/errors.ts";
import { timeOf } from "../contract/pastTimes.ts";
import { partOf, stateAfter, type Manifest } from "./snapshotLayout.ts";
import type { SnapshotStore, StreamState } from "./snapshotStore.ts";

export type PastState = { definitions: Definition[]; instances: Instance[]; nodes: Node[] };

/** Limits of time travel: how many run at once (REGISTRY_TIME_TRAVEL_CONCURRENCY), and how long one may read (REGISTRY_TIME_TRAVEL_TIMEOUT_MS). */
export type TimeTravelLimits = { maxConcurrent: number; timeoutMs: number };

export type TimeTravelOutcome = "done" | "refused" | "stopped" | "failed";

/** What time travel has cost this process: queries by outcome, those running, events read, answers that started from a snapshot. */
export type TimeTravelCounts = { running: number; eventsRead: number; fromSnapshots: number; outcomes: Record<TimeTravelOutcome, number> };

/** How much work runs between two yields to the event loop, so that ordinary reads are answered meanwhile. */
const SLICE_MS = 5;

/**
 * Time travel with its bounds: at most `maxConcurrent` at once (one more is refused with 503),
 * each stopped when its caller stops waiting (`signal`: the HTTP connection closed) or at its
 * deadline, whichever is first; it yields to the event loop every few milliseconds.
 */
export function boundedTimeTravel(deps: StateAsOfDeps, limits: TimeTravelLimits) {
  const counts: TimeTravelCounts = { running: 0, eventsRead: 0, fromSnapshots: 0, outcomes: { done: 0, refused: 0, stopped: 0, failed: 0 } };
  const read = (n: number) => {
    counts.eventsRead += n;
    deps.progress?.(n);
  };
  return {
    counts: (): TimeTravelCounts => ({ ...counts, outcomes: { ...counts.outcomes } }),
    async stateAsOf(asOf: string | number, scope: PastScope, signal?: AbortSignal): Promise<PastState> {
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
        const past = await stateAsOf({ ...deps, progress: read, fromSnapshot: () => void counts.fromSnapshots++ }, asOf, scope, signal ? AbortSignal.any([signal, deadline]) : deadline);
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
  /** Where snapshots are read from; without it every answer folds the stream from its start. */
  snapshots?: SnapshotStore;
  /** Told of the events read, a slice at a time. */
  progress?: (events: number) => void;
  /** Told when an answer started from a snapshot. */
  fromSnapshot?: () => void;
};

type PastEntity = Definition | Instance | Node;

/**
 * `asOf`: an RFC 3339 time (or a duration back from now: pastTimes.ts), or the stream sequence of the last event to fold. It starts from
 * the newest trusted snapshot before then (snapshotStore.ts), or the stream's start, and folds
 * the scope's events that follow, in stream order, up to the sequence or to the first event
 * later than the time. For one slug only the events that can concern it are parsed: those of
 * instances it held and those whose bytes name the slug. Reading stops (StoppedError) once
 * `signal` aborts: it is checked at each event, and between slices of work the event loop gets its turn.
 */
export async function stateAsOf(deps: StateAsOfDeps, requested: string | number, scope: PastScope, signal?: AbortSignal): Promise<PastState> {
  const { js, names } = deps;
  const asOf = typeof requested === "string" ? timeOf(requested) : requested;
  const until = typeof asOf === "number" ? asOf : Date.parse(asOf);
  const start = deps.snapshots ? await fromSnapshot(deps.snapshots, asOf, scope).catch((err: unknown) => {
    // The snapshots cannot be read at all (the bucket gone, the server slow): the stream answers alone.
    deps.unreadable.skip("snapshots", "bucket", `the snapshots cannot be read (${(err as Error).message})`);
    return undefined;
  }) : undefined;
  if (start) deps.fromSnapshot?.();
  const latest = new Map<string, PastEntity | null>(start?.entities);
  const slug = scope.entity === "instance" ? scope.slug : undefined;
  const needle = slug !== undefined ? Buffer.from(JSON.stringify(slug)) : undefined;

  let eventsRead = 0;
  let inSlice = 0;
  let sliceStarted = performance.now();
  const deliver = start ? { startSeq: start.seq + 1 } : "all";
  // Only asked when it matters (instances, no snapshot to start from): where the snapshots are.
  const early = scope.entity === "instance" && !start && deps.snapshots ? await Promise.all([deps.snapshots.stream(), deps.snapshots.manifests()]).then(([stream, stored]) => endsEarly(asOf, stream, stored.map((m) => m.manifest)), () => false) : false;
  const filterHere = readsUnfiltered(scope.entity, start !== undefined, early);
  for await (const m of readSubjects(js, names.eventsStream, names.eventSubject(scope.entity, ">"), deliver, { ...(signal ? { signal } : {}), batch: LONG_PASS_BATCH, filterHere })) {
    if (signal?.aborted) break; // leaving the loop stops the consumer
    eventsRead++;
    inSlice++;
    if (performance.now() - sliceStarted >= SLICE_MS) {
      deps.progress?.(inSlice);
      inSlice = 0;
      await new Promise((resolve) => setImmediate(resolve));
      sliceStarted = performance.now();
    }
    if (typeof asOf === "number" && m.seq > until) break;
    const concerns = needle === undefined || latest.has(m.subject) || bytesOf(m.data).includes(needle);
    if (!concerns) {
      // Not this slug's, but it may end the fold: read its time cheaply, and the whole event only when that says it is later.
      if (typeof asOf === "string" && Date.parse(cheapTimeOf(m.data) ?? "") > until) {
        const event = eventOf(m, names.eventsStream, deps.unreadable);
        if (event && Date.parse(event.metadata.at) > until) break;
      }
      continue;
    }
    const event = eventOf(m, names.eventsStream, deps.unreadable);
    if (!event) continue;
    if (typeof asOf === "string" && Date.parse(event.metadata.at) > until) break;
    latest.set(m.subject, stateAfter(scope.entity, event));
  }
  deps.progress?.(inSlice);
  if (signal?.aborted) throw new StoppedError(eventsRead); // even if it came as the last event did: no one waits for the answer
  const found = [...latest.values()].filter((e): e is PastEntity => e !== null && (slug === undefined || (e as Instance).slug === slug));
  const past: PastState = { definitions: [], instances: [], nodes: [] };
  if (scope.entity === "definition") past.definitions = found;
  else if (scope.entity === "node") past.nodes = found as Node[];
  else past.instances = found as Instance[];
  return past;
}

const bytesOf = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);
const TIME_MARK = Buffer.from('"metadata":{"at":"');

/** An event's metadata.at without parsing it: the registry writes metadata last and `at` first. A guess, checked by a full read before it ends anything. */
function cheapTimeOf(data: Uint8Array): string | undefined {
  const bytes = bytesOf(data);
  const mark = bytes.lastIndexOf(TIME_MARK);
  if (mark < 0) return undefined;
  const from = mark + TIME_MARK.length;
  const end = bytes.indexOf(0x22, from); // the closing quote
  return end < 0 || end - from > 40 ? undefined : bytes.toString("latin1", from, end);
}

/** Kept parsers of the states a snapshot part holds, by entity. */
const STATE_READERS = { definition: reader(DefinitionSchema), instance: reader(InstanceSchema), node: reader(NodeSchema) };

/** A fold reading this share of the stream or less reads fewer messages unfiltered than a filtered consumer's start counts. */
const EARLY_SHARE = 0.1;

/**
 * Whether a fold's consumer goes without a server filter (the fold matches subjects itself).
 * Instance events are most of the stream: from a snapshot (at most a snapshot's worth follows),
 * or to a point early in the stream, the consumer needs no filter and starts at once
 * (readSubjects.ts), where a filtered one first counts every message after its start (seconds at
 * millions). Definitions and nodes are a few events among many: the server filters them.
 */
export function readsUnfiltered(entity: PastScope["entity"], fromSnapshot: boolean, endsEarly: boolean): boolean {
  return entity === "instance" && (fromSnapshot || endsEarly);
}

/**
 * Whether a fold from the stream's start to `asOf` ends in its first tenth: a sequence says so
 * itself; a time by the oldest snapshot written after it (`manifests` newest first; a fold to a
 * time no snapshot follows may run to the end).
 */
export function endsEarly(asOf: string | number, stream: Pick<StreamState, "firstSeq" | "lastSeq">, manifests: readonly Pick<Manifest, "seq" | "at">[]): boolean {
  const until = typeof asOf === "number" ? asOf : Date.parse(asOf);
  const endsBy = typeof asOf === "number" ? asOf : manifests.filter((m) => Date.parse(m.at) > until).at(-1)?.seq;
  return endsBy !== undefined && endsBy - stream.firstSeq <= (stream.lastSeq - stream.firstSeq) * EARLY_SHARE;
}

/**
 * The newest trusted snapshot at or before `asOf`, with the scope's entities it holds (of a
 * slug: that slug's only); undefined when there is none. A snapshot whose part cannot be read,
 * or holds a state that does not match its schema, is distrusted and the next older one tried.
 */
async function fromSnapshot(store: SnapshotStore, asOf: string | number, scope: PastScope): Promise<{ seq: number; entities: Map<string, PastEntity> } | undefined> {
  const until = typeof asOf === "number" ? asOf : Date.parse(asOf);
  const stream = await store.stream();
  const accept = (m: Manifest) => (typeof asOf === "number" ? m.seq <= until : Date.parse(m.at) <= until);
  for (let tries = 0; tries < 3; tries++) {
    const stored = await store.newestTrusted(stream, { accept });
    if (!stored) return undefined;
    const { manifest } = stored;
    const chain = await store.chainOf(stored, stream);
    if (!chain) {
      store.distrust(stored, "a snapshot of its chain is missing or not trusted");
      continue;
    }
    const slug = scope.entity === "instance" ? scope.slug : undefined;
    const parts =
      scope.entity !== "instance"
        ? [scope.entity]
        : slug !== undefined
          ? [partOf("instance", slug, manifest.shards)]
          : [...new Set(chain.flatMap((m) => Object.keys(m.manifest.parts)))].filter((p) => p.startsWith("instance."));
    const read = STATE_READERS[scope.entity];
    const entities = new Map<string, PastEntity>();
    const problem = await (async () => {
      for (const part of parts) {
        const lines = await store.readChainPart(chain, part);
        if (!lines) return `its part ${part} cannot be read`;
        for (const [subject, json] of lines) {
          let state: ReturnType<typeof read>;
          try {
            state = read(JSON.parse(json));
          } catch (err) {
            return `its part ${part} holds a line that is not JSON (${(err as Error).message})`;
          }
          if (!state.ok) return `its part ${part} holds a state that cannot be read (${state.reason})`;
          if (slug === undefined || (state.value as Instance).slug === slug) entities.set(subject, state.value);
        }
      }
      return undefined;
    })();
    if (problem === undefined) return { seq: manifest.seq, entities };
    store.distrust(stored, problem);
  }
  return undefined;
}
