/**
 * The write side of the API: turns requests into domain commands and runs them through the
 * write path. Ids that are not given are chosen here, not in the domain.
 */
import crypto from "node:crypto";
import type { RegistryCommands } from "../contract/api.ts";
import { instanceNotFound, nodeNotFound } from "../contract/errors.ts";
import { DERIVED_ID_PREFIX } from "../contract/ids.ts";
import type { Instance } from "../contract/schemas.ts";
import { normalizeUrl, resolveAddress } from "../domain/address.ts";
import { definitionDecider } from "../domain/definition.ts";
import { instanceDecider, registrationOutcome, registrationTarget } from "../domain/instance.ts";
import { nodeDecider } from "../domain/node.ts";
import { expiryProtectionDecider } from "../domain/expiryProtection.ts";
import { writePath, type WritePathDeps } from "./writePath.ts";

/**
 * An instance registered without an id gets one derived from its URL, so two registry
 * processes registering the same new URL at once write to one entity, never twins.
 */
export function instanceIdForUrl(url: string): string {
  return `${DERIVED_ID_PREFIX}${sha256Hex(normalizeUrl(url)).slice(0, 20)}`;
}

/** SHA-256 in hex: the one-shot `crypto.hash` where Node has it (20.12 on), a third of createHash's cost (the URL index derives a million at start). */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === "function" ? (text) => crypto.hash("sha256", text, "hex") : (text) => crypto.createHash("sha256").update(text).digest("hex");

/** The instance a command left, which a reply shows; gone (removed meanwhile) is its not-found. */
function existing(state: Instance | null, id: string): Instance {
  if (state === null) throw instanceNotFound(id);
  return state;
}

export function registryCommands(deps: WritePathDeps): RegistryCommands {
  const { names } = deps;
  const { now, run, instanceHint, syncInstances } = writePath(deps);
  const instanceSubject = (id: string) => names.eventSubject("instance", id);

  return {
    async saveDefinition({ definition }, ctx) {
      const command = { type: "SaveDefinition" as const, data: { definition }, metadata: { now: now() } };
      const { state } = await run(definitionDecider, names.eventSubject("definition", definition.id), command, ctx);
      return { definition: state ?? definition };
    },

    async removeDefinition({ id }, ctx) {
      await run(definitionDecider, names.eventSubject("definition", id), { type: "RemoveDefinition", data: { id }, metadata: { now: now() } }, ctx);
      return {};
    },

    async registerInstance(request, ctx) {
      const address = resolveAddress(request);
      await syncInstances();
      const id = registrationTarget(address.url, request.id, deps.instances.idOfUrl(address.url), instanceIdForUrl(address.url));
      const command = { type: "RegisterInstance" as const, data: { id, address, request }, metadata: { now: now() } };
      const { state, events } = await run(instanceDecider, instanceSubject(id), command, { ...ctx, hint: instanceHint(id), answersFromEvents: true });
      return { instance: existing(state, id), ...registrationOutcome(events) };
    },

    async removeInstance({ id }, ctx) {
      const command = { type: "RemoveInstance" as const, data: { id }, metadata: { now: now() } };
      await run(instanceDecider, instanceSubject(id), command, { ...ctx, hint: instanceHint(id) });
      return {};
    },

    async removeNode(ref, ctx) {
      let id = ref.id;
      if (id === undefined) {
        await deps.nodes.sync();
        id = deps.nodes.idOfUrl(ref.url ?? "");
        if (id === undefined) throw nodeNotFound({ url: ref.url });
      }
      const command = { type: "RemoveNode" as const, data: { id, reason: "removed by an operator" }, metadata: { now: now() } };
      await run(nodeDecider, names.eventSubject("node", id), command, ctx);
      return {};
    },

    async reportStatus({ id, status, details, by }, ctx) {
      const data = { id, status, by: by ?? ("instance" as const), ...(details !== undefined ? { details } : {}) };
      const { state } = await run(instanceDecider, instanceSubject(id), { type: "ReportStatus", data, metadata: { now: now() } }, { ...ctx, hint: instanceHint(id) });
      return { instance: existing(state, id) };
    },

    async recordCheck({ id, outcome, detail, checkedBy }, ctx) {
      const command = { type: "RecordCheck" as const, data: { id, outcome, detail, checkedBy }, metadata: { now: now() } };
      const { state } = await run(instanceDecider, instanceSubject(id), command, { ...ctx, hint: instanceHint(id) });
      return { instance: existing(state, id) };
    },

    async switchProtection({ enabled }, ctx) {
      const command = { type: "SwitchProtection" as const, data: { enabled }, metadata: { now: now() } };
      const { state } = await run(expiryProtectionDecider, names.eventSubject("protection", "expiry"), command, ctx);
      return { protection: state };
    },
  };
}
