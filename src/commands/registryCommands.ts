/**
 * The write side of the API: turns requests into domain commands and runs them through
 * `execute`. Ids that are not given are chosen here, not in the domain.
 */
import { createHash } from "node:crypto";
import type { NodeLivenessCommands, RegistryCommands } from "../contract/api.ts";
import { conflict, notFound } from "../contract/errors.ts";
import type { Names } from "../contract/names.ts";
import type { Instance } from "../contract/schemas.ts";
import { normalizeUrl, resolveAddress } from "../domain/address.ts";
import { definitionDecider } from "../domain/definition.ts";
import { instanceDecider } from "../domain/instance.ts";
import { nodeDecider } from "../domain/node.ts";
import type { EventStore } from "../eventstore/eventStore.ts";
import { execute, type Project } from "./execute.ts";

/** What the write side needs to know of current state beyond one entity's stream. */
export type Lookups = {
  /** Waits until the lookups below reflect every write acknowledged so far. */
  sync(): Promise<void>;
  instanceIdOfUrl(url: string): string | undefined;
  nodeIdOfUrl(url: string): string | undefined;
};

/**
 * An instance registered without an id gets one derived from its URL, so two registry
 * processes registering the same new URL at once write to one entity, never twins.
 */
export function instanceIdForUrl(url: string): string {
  return `inst_${createHash("sha256").update(normalizeUrl(url)).digest("hex").slice(0, 20)}`;
}

export function registryCommands(deps: {
  store: EventStore;
  project: Project;
  names: Names;
  lookups: Lookups;
  clock?: () => Date;
}): RegistryCommands & NodeLivenessCommands {
  const { names, lookups } = deps;
  const now = () => (deps.clock?.() ?? new Date()).toISOString();
  const run = <S, C extends { metadata: { now: string } }, E extends Parameters<Project>[0]>(
    decider: Parameters<typeof execute<S, C, E>>[1],
    subject: string,
    command: C,
    requestId?: string,
  ) => execute(deps, decider, subject, command, requestId);

  return {
    async saveDefinition({ definition }, ctx) {
      const subject = names.eventSubject("definition", definition.id);
      const { state } = await run(definitionDecider, subject, { type: "SaveDefinition", data: { definition }, metadata: { now: now() } }, ctx.requestId);
      return { definition: state ?? definition };
    },

    async removeDefinition({ id }, ctx) {
      const subject = names.eventSubject("definition", id);
      await run(definitionDecider, subject, { type: "RemoveDefinition", data: { id }, metadata: { now: now() } }, ctx.requestId);
      return {};
    },

    async registerInstance(request, ctx) {
      const address = resolveAddress(request);
      await lookups.sync();
      const holder = lookups.instanceIdOfUrl(address.url);
      if (request.id !== undefined && holder !== undefined && holder !== request.id) {
        throw conflict(`url ${address.url} is already registered as instance "${holder}"; register with id "${holder}" to update it, or remove it first`);
      }
      const id = request.id ?? holder ?? instanceIdForUrl(address.url);
      const subject = names.eventSubject("instance", id);
      const command = { type: "RegisterInstance" as const, data: { id, address, request }, metadata: { now: now() } };
      const { state } = await run(instanceDecider, subject, command, ctx.requestId);
      return { instance: state as Instance };
    },

    async removeInstance({ id }, ctx) {
      const subject = names.eventSubject("instance", id);
      await run(instanceDecider, subject, { type: "RemoveInstance", data: { id }, metadata: { now: now() } }, ctx.requestId);
      return {};
    },

    async removeNode(ref, ctx) {
      let id = ref.id;
      if (id === undefined) {
        await lookups.sync();
        id = lookups.nodeIdOfUrl(ref.url ?? "");
        if (id === undefined) throw notFound(`no node has url ${ref.url}; list them with registry.node.list`);
      }
      const subject = names.eventSubject("node", id);
      const command = { type: "RemoveNode" as const, data: { id, reason: "removed by an operator" }, metadata: { now: now() } };
      await run(nodeDecider, subject, command, ctx.requestId);
      return {};
    },

    async observeHeartbeat(heartbeat) {
      const subject = names.eventSubject("node", heartbeat.id);
      const { state, written } = await run(nodeDecider, subject, { type: "ObserveHeartbeat", data: { heartbeat }, metadata: { now: now() } });
      return { node: state, written };
    },

    async checkLiveness(id, lastHeartbeat, offlineAfterMs) {
      const subject = names.eventSubject("node", id);
      const command = { type: "CheckLiveness" as const, data: { id, lastHeartbeat, offlineAfterMs }, metadata: { now: now() } };
      const { state, written } = await run(nodeDecider, subject, command);
      return { node: state, written };
    },
  };
}
