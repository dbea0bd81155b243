/**
 * The write path, for every entity: take the entity's state and version, decide, append
 * with the version decided on, project, and decide again when another writer got there
 * first.
 *
 * The state comes first from the caller's hint (the read model's copy, with the version
 * of the event it reflects): no read at all in the common case, and a stale copy only
 * costs a lost race. After that, and whenever the hint's decision is a refusal, it comes
 * from the entity's latest event. A command id already on that event means this is a retry
 * of the command that wrote it: nothing is decided or written again.
 *
 * The command id is the request id (`Nats-Msg-Id`) bound to what the command asks, so a
 * client that reuses a request id for a different write gets that write done, while a true
 * retry is deduplicated by JetStream (within its window) or by the check above.
 */
import { createHash } from "node:crypto";
import type { Caller, RequestFace } from "../contract/api.ts";
import { RegistryError, conflict } from "../contract/errors.ts";
import { evolves, type Decider } from "../domain/decider.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { VersionConflict, type EventStore, type StoredEvent } from "../eventstore/eventStore.ts";

/** Lost races before a 409: enough for dozens of writers on one entity on a loaded machine. */
export const MAX_ATTEMPTS = 20;

/** Random backoff before a retry, growing with each lost race, so that racing writers spread out. */
const backoff = (attempt: number) => new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 200)));

export type Project = (event: RegistryEvent, seq: number) => Promise<void>;

/**
 * The event is stored; only its projection into the buckets failed (nats-server lost quorum,
 * a KV write timed out). The projector consumer makes it once the buckets take writes again,
 * so the write is not to be decided again here, and the caller is told it is stored.
 */
export class StoredNotProjected extends RegistryError {
  constructor(subject: string, seq: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      503,
      `the write was stored (event ${seq} on ${subject}) but the read models do not show it yet (${reason}); the registry's projector makes it as soon as nats-server takes writes again. ` +
        "Retry with the same Nats-Msg-Id to get the answer without writing it twice",
      { cause },
    );
    this.name = "StoredNotProjected";
  }
}

/** Projects a stored event; a failure says the event is stored. */
async function projectStored(project: Project, subject: string, event: RegistryEvent, seq: number): Promise<void> {
  try {
    await project(event, seq);
  } catch (err) {
    throw new StoredNotProjected(subject, seq, err);
  }
}

/**
 * `events`: what the request wrote, by this call or, for a retry of a request already written,
 * by its first try (the entity's latest event when it carries the request's command id: a retry
 * answers as the first try did). `written`: whether this call appended anything.
 */
export type Executed<State, Event = unknown> = { state: State; version: number; written: boolean; events: Event[] };

/** The request id bound to the command's subject, type and data. */
export function commandIdOf(requestId: string, subject: string, command: { type: string; data: unknown }): string {
  return createHash("sha256").update(`${requestId}\u0000${subject}\u0000${command.type}\u0000${JSON.stringify(command.data)}`).digest("hex").slice(0, 32);
}

/** What the caller knows of the entity already: its state and the sequence of the event it reflects. */
export type StateHint<State> = { state: State; version: number };

/** An entity's state folded from its latest readable event, the one place events become state. */
function stateOf<State, Event extends RegistryEvent>(decider: Decider<State, never, Event>, stored: StoredEvent | null): State {
  const event = stored?.envelope;
  return event && evolves(decider, event) ? decider.evolve(decider.initialState(), event) : decider.initialState();
}

/** The entity's current state, read from its latest event (nothing decided, nothing written). */
export async function readState<State, Event extends RegistryEvent>(store: EventStore, decider: Decider<State, never, Event>, subject: string): Promise<State> {
  return stateOf(decider, await store.readLatest(subject));
}

/**
 * Who asks and how. `answersFromEvents`: the caller's answer is made of `events` (a registration
 * says what it did), so a decision to write nothing is checked against the entity's latest event,
 * which a retry of this request may have written; others answer from the state and skip that read.
 */
export type ExecuteOptions<State> = {
  requestId?: string | undefined;
  caller?: Caller | undefined;
  via?: RequestFace | undefined;
  hint?: (() => StateHint<State> | undefined) | undefined;
  answersFromEvents?: boolean | undefined;
};

export async function execute<State, Command extends { type: string; data: unknown; metadata: { now: string } }, Event extends RegistryEvent>(
  deps: { store: EventStore; project: Project },
  decider: Decider<State, Command, Event>,
  subject: string,
  command: Command,
  opts: ExecuteOptions<State> = {},
): Promise<Executed<State, Event>> {
  const { store, project } = deps;
  const { requestId, caller, via } = opts;
  const commandId = requestId === undefined ? undefined : commandIdOf(requestId, subject, command);

  /** The state after an earlier try of this request wrote it; its event, when it is still the latest. */
  async function current(): Promise<Executed<State, Event>> {
    const latest = await store.readLatest(subject);
    if (latest?.envelope) await projectStored(project, subject, latest.envelope, latest.seq); // it may be from a process that died before projecting
    const envelope = latest?.envelope;
    const ours = commandId !== undefined && envelope?.metadata.commandId === commandId && evolves(decider, envelope) ? [envelope] : [];
    return { state: stateOf(decider, latest), version: latest?.seq ?? 0, written: false, events: ours };
  }

  /** One decision and its appends; undefined when another writer got there first. */
  async function attempt(state: State, version: number): Promise<Executed<State, Event> | undefined> {
    const events = decider.decide(command, state);
    try {
      for (const [i, event] of events.entries()) {
        const id = commandId === undefined ? undefined : i === 0 ? commandId : `${commandId}:${i}`;
        const envelope = { ...event, metadata: { at: command.metadata.now, ...(id ? { requestId, commandId: id } : {}), ...(caller ? { by: caller } : {}), ...(via ? { via } : {}) } };
        const appended = await store.append(subject, envelope, version, id);
        if (appended.duplicate) return current(); // an earlier try of this request wrote it
        await projectStored(project, subject, envelope, appended.seq);
        state = decider.evolve(state, event);
        version = appended.seq;
      }
    } catch (err) {
      if (err instanceof VersionConflict) return undefined;
      throw err;
    }
    return { state, version, written: events.length > 0, events };
  }

  const hint = opts.hint?.();
  if (hint) {
    try {
      const done = await attempt(hint.state, hint.version);
      // Nothing to write may mean a retry of a request already written: the latest event says (below).
      if (done && (done.written || commandId === undefined || !opts.answersFromEvents)) return done;
    } catch (err) {
      if (!(err instanceof RegistryError) || err instanceof StoredNotProjected) throw err; // a refusal on a possibly stale copy is checked below
    }
  }

  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    const latest = await store.readLatest(subject);
    if (commandId && latest?.envelope?.metadata.commandId === commandId) return current();
    const done = await attempt(stateOf(decider, latest), latest?.seq ?? 0);
    if (done) return done;
    await backoff(n);
  }
  throw conflict(`${subject} kept changing under concurrent writes (${MAX_ATTEMPTS} attempts); retry the request`);
}
