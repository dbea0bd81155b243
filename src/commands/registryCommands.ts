/**
 * The write side of the API: turns requests into domain commands and runs them through
 * `execute`. Ids that are not given are chosen here, not in the domain.
 */
import { createHash } from "node:crypto";
import type { InstanceHealthCommands, NodeLivenessCommands, RegistryCommands } from "../contract/api.ts";
import { conflict, notFound } from "../contract/errors.ts";
import type { Names } from "../contract/names.ts";
import type { Instance } from "../contract/schemas.ts";
import { normalizeUrl, resolveAddress } from "../domain/address.ts";
import { definitionDecider } from "../domain/definition.ts";
import { instanceDecider } from "../domain/instance.ts";
import { nodeDecider } from "../domain/node.ts";
import { expiryProtectionDecider } from "../domain/expiryProtection.ts";
import type { InstanceHealthCommand } from "../domain/instanceHealth.ts";
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
}): RegistryCommands & NodeLivenessCommands & InstanceHealthCommands {
  const { names, lookups } = deps;
  const now = () => (deps.clock?.() ?? new Date()).toISOString();
  const run = <S, C extends { type: string; data: unknown; metadata: { now: string } }, E extends Parameters<Project>[0]>(
    decider: Parameters<typeof execute<S, C, E>>[1],
    subject: string,
    command: C,
    requestId?: string,
    hint?: () => StateHint<S> | undefined,
  ) => execute(deps, decider, subject, command, { requestId, hint });
  const instanceHint = (id: string) => () => lookups.instanceState(id);

  const health = (command: InstanceHealthCommand, requestId?: string) =>
    run(instanceDecider, names.eventSubject("instance", command.data.id), command, requestId, instanceHint(command.data.id));
  const protectionSubject = names.eventSubject("protection", "expiry");

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
      await lookups.syncInstances();
      const holder = lookups.instanceIdOfUrl(address.url);
      if (request.id !== undefined && holder !== undefined && holder !== request.id) {
        throw conflict(`url ${address.url} is already registered as instance "${holder}"; register with id "${holder}" to update it, or remove it first`);
      }
      const id = request.id ?? holder ?? instanceIdForUrl(address.url);
      const subject = names.eventSubject("instance", id);
      const command = { type: "RegisterInstance" as const, data: { id, address, request }, metadata: { now: now() } };
      const { state } = await run(instanceDecider, subject, command, ctx.requestId, instanceHint(id));
      return { instance: state as Instance };
    },

    async removeInstance({ id }, ctx) {
      const subject = names.eventSubject("instance", id);
      await run(instanceDecider, subject, { type: "RemoveInstance", data: { id }, metadata: { now: now() } }, ctx.requestId, instanceHint(id));
      return {};
    },

    async removeNode(ref, ctx) {
      let id = ref.id;
      if (id === undefined) {
        await lookups.syncNodes();
        id = lookups.nodeIdOfUrl(ref.url ?? "");
        if (id === undefined) throw notFound(`no node has url ${ref.url}; list them with registry.node.list`);
      }
      const subject = names.eventSubject("node", id);
      const command = { type: "RemoveNode" as const, data: { id, reason: "removed by an operator" }, metadata: { now: now() } };
      await run(nodeDecider, subject, command, ctx.requestId);
      return {};
    },

    async reportStatus({ id, status, details, by }, ctx) {
      const data = { id, status, by: by ?? ("instance" as const), ...(details !== undefined ? { details } : {}) };
      const { state } = await health({ type: "ReportStatus", data, metadata: { now: now() } }, ctx.requestId);
      return { instance: state as Instance };
    },

    async recordCheck({ id, outcome, detail, checkedBy }, ctx) {
      const { state } = await health({ type: "RecordCheck", data: { id, outcome, detail, checkedBy }, metadata: { now: now() } }, ctx.requestId);
      if (state === null) throw notFound(`instance "${id}" not found; it may have been removed`);
      return { instance: state };
    },

    async recoverLease(id) {
      const { state, written } = await health({ type: "RenewLease", data: { id }, metadata: { now: now() } });
      return { instance: state, written };
    },

    async checkLease(id, lastRenewal) {
      return health({ type: "CheckLease", data: { id, lastRenewal }, metadata: { now: now() } });
    },

    async markNodeOffline(id, nodeId) {
      return health({ type: "MarkNodeOffline", data: { id, nodeId }, metadata: { now: now() } });
    },

    async markNodeOnline(id, nodeId) {
      return health({ type: "MarkNodeOnline", data: { id, nodeId }, metadata: { now: now() } });
    },

    async protectionState() {
      const latest = await deps.store.readLatest(protectionSubject);
      return latest?.envelope ? expiryProtectionDecider.evolve(expiryProtectionDecider.initialState(), latest.envelope as never) : expiryProtectionDecider.initialState();
    },

    async evaluateProtection(census, share, windowMs) {
      const command = { type: "EvaluateProtection" as const, data: { census, share, windowMs }, metadata: { now: now() } };
      const { state, written } = await run(expiryProtectionDecider, protectionSubject, command);
      return { protection: state, written };
    },

    async switchProtection({ enabled }, ctx) {
      const command = { type: "SwitchProtection" as const, data: { enabled }, metadata: { now: now() } };
      const { state } = await run(expiryProtectionDecider, protectionSubject, command, ctx.requestId);
      return { protection: state };
    },

    async observeHeartbeat(heartbeat, receivedAt) {
      const subject = names.eventSubject("node", heartbeat.id);
      const command = { type: "ObserveHeartbeat" as const, data: { heartbeat, receivedAt }, metadata: { now: now() } };
      const { state, written } = await run(nodeDecider, subject, command);
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
