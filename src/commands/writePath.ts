/**
 * What every command handler shares: the clock, and `run`, which takes one command of one
 * entity through `execute` with the deps of this process.
 */
import type { Caller } from "../contract/api.ts";
import type { Names } from "../contract/names.ts";
import type { Instance } from "../contract/schemas.ts";
import type { Decider } from "../domain/decider.ts";
import type { RegistryEvent } from "../domain/events.ts";
import type { EventStore } from "../eventstore/eventStore.ts";
import { execute, type Project, type StateHint } from "./execute.ts";

/** What the write side needs to know of current state beyond one entity's stream. */
export type Lookups = {
  /** Wait until the lookups below reflect every write acknowledged so far. */
  syncInstances(): Promise<void>;
  syncNodes(): Promise<void>;
  instanceIdOfUrl(url: string): string | undefined;
  /** The read model's copy of an instance and the version it reflects (a hint: it may be stale). */
  instanceState(id: string): StateHint<Instance | null>;
  nodeIdOfUrl(url: string): string | undefined;
};

export type WritePathDeps = { store: EventStore; project: Project; names: Names; lookups: Lookups; clock?: () => Date };

type AnyCommand = { type: string; data: unknown; metadata: { now: string } };

export function writePath(deps: WritePathDeps) {
  const now = () => (deps.clock?.() ?? new Date()).toISOString();
  const run = <S, C extends AnyCommand, E extends RegistryEvent>(
    decider: Decider<S, C, E>,
    subject: string,
    command: C,
    opts: { requestId?: string | undefined; caller?: Caller | undefined; hint?: () => StateHint<S> | undefined } = {},
  ) => execute(deps, decider, subject, command, opts);
  const instanceHint = (id: string) => () => deps.lookups.instanceState(id);
  return { now, run, instanceHint };
}

/**
 * REGISTRY_REPLY_AFTER=append: the write path does not wait for its projection. A projection
 * that fails is left to the projector consumer, which writes what the read models do not show.
 */
export function projectInBackground(project: Project, failed: (err: unknown, seq: number) => void): Project {
  return (event, seq) => {
    project(event, seq).catch((err: unknown) => failed(err, seq));
    return Promise.resolve();
  };
}
