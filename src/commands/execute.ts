/**
 * The write path, for every entity: read the entity's latest event, decide, append with
 * the version decided on, project, and retry from the top when another writer got there
 * first. A request id already on the entity's latest event means this is a retry of the
 * command that wrote it: nothing is decided or written again.
 */
import { conflict } from "../contract/errors.ts";
import type { Decider } from "../domain/decider.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { VersionConflict, type EventStore, type StoredEvent } from "../eventstore/eventStore.ts";

const MAX_ATTEMPTS = 10;

/** Random backoff before a retry, growing with each lost race, so that racing writers spread out. */
const backoff = (attempt: number) => new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 100)));

export type Project = (event: RegistryEvent, seq: number) => Promise<void>;

export type Executed<State> = { state: State; version: number; written: boolean };

export async function execute<State, Command extends { metadata: { now: string } }, Event extends RegistryEvent>(
  deps: { store: EventStore; project: Project },
  decider: Decider<State, Command, Event>,
  subject: string,
  command: Command,
  requestId: string | undefined,
): Promise<Executed<State>> {
  const { store, project } = deps;
  const stateOf = (stored: StoredEvent | null) =>
    stored ? decider.evolve(decider.initialState(), stored.envelope as unknown as Event) : decider.initialState();

  async function current(): Promise<Executed<State>> {
    const latest = await store.readLatest(subject);
    if (latest) await project(latest.envelope, latest.seq); // it may be from a process that died before projecting
    return { state: stateOf(latest), version: latest?.seq ?? 0, written: false };
  }

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const latest = await store.readLatest(subject);
    if (latest && requestId && latest.envelope.metadata.requestId === requestId) return current();
    let state = stateOf(latest);
    let version = latest?.seq ?? 0;
    const events = decider.decide(command, state);
    try {
      for (const [i, event] of events.entries()) {
        const id = requestId === undefined ? undefined : i === 0 ? requestId : `${requestId}:${i}`;
        const envelope = { ...event, metadata: { at: command.metadata.now, ...(id ? { requestId: id } : {}) } };
        const appended = await store.append(subject, envelope, version);
        if (appended.duplicate) return current(); // an earlier try of this request wrote it
        await project(envelope, appended.seq);
        state = decider.evolve(state, event);
        version = appended.seq;
      }
    } catch (err) {
      if (err instanceof VersionConflict) {
        await backoff(attempt);
        continue;
      }
      throw err;
    }
    return { state, version, written: events.length > 0 };
  }
  throw conflict(`${subject} kept changing under concurrent writes (${MAX_ATTEMPTS} attempts); retry the request`);
}
