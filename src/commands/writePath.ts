/**
 * What every command handler shares: the clock, and `run`, which takes one command of one
 * entity through `execute` with the deps of this process.
 */
import type { Names } from "../contract/names.ts";
import type { InstanceReadModel, NodeReadModel } from "../contract/readModels.ts";
import type { Instance } from "../contract/schemas.ts";
import type { Decider } from "../domain/decider.ts";
import type { RegistryEvent } from "../domain/events.ts";
import type { EventStore } from "../eventstore/eventStore.ts";
import { execute, type ExecuteOptions, type Project, type StateHint } from "./execute.ts";

/**
 * When a write is answered (REGISTRY_REPLY_AFTER): "projection", once its event is in the
 * buckets, so reads see it; "append", once it is in the stream, projected in the background
 * (a projection that fails is left to the projector consumer).
 */
export type ReplyAfter = "projection" | "append";

export type WritePathDeps = {
  store: EventStore;
  project: Project;
  replyAfter: ReplyAfter;
  /** Where a projection left to the background failed (REGISTRY_REPLY_AFTER=append). */
  projectionFailed: (err: unknown, seq: number) => void;
  names: Names;
  /** The read models, for what a command needs beyond its entity's stream. */
  instances: Pick<InstanceReadModel, "sync" | "idOfUrl" | "entry">;
  nodes: Pick<NodeReadModel, "sync" | "idOfUrl">;
  clock?: () => Date;
};

type AnyCommand = { type: string; data: unknown; metadata: { now: string } };

export function writePath(deps: WritePathDeps) {
  const now = () => (deps.clock?.() ?? new Date()).toISOString();
  const afterAppend = deps.replyAfter === "append";
  const project = afterAppend ? projectInBackground(deps.project, deps.projectionFailed) : deps.project;
  const executeDeps = { store: deps.store, project };
  const run = <S, C extends AnyCommand, E extends RegistryEvent>(
    decider: Decider<S, C, E>,
    subject: string,
    command: C,
    opts: ExecuteOptions<S> = {},
  ) => execute(executeDeps, decider, subject, command, opts);
  const instanceHint = (id: string) => (): StateHint<Instance | null> => {
    const entry = deps.instances.entry(id);
    return entry ? { state: entry.value, version: entry.version } : { state: null, version: 0 };
  };
  /**
   * Waits until the instance read model shows every write answered so far. Answering before
   * projecting, a barrier cannot cover the writes answered just before anyway: the read model
   * as it stands is what such a write gets.
   */
  const syncInstances = () => (afterAppend ? Promise.resolve() : deps.instances.sync());
  return { now, run, instanceHint, syncInstances };
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
