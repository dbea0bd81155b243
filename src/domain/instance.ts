/**
 * Decides every command of an instance: registration (a new instance, or an update of the
 * fields given, nothing when nothing changes), removal, and the health commands of
 * instanceHealth.ts. Also which instance a registration of a URL writes to.
 */
import type { Instance, RegisterInstanceRequest } from "../contract/schemas.ts";
import { conflict, instanceNotFound } from "../contract/errors.ts";
import { ADDRESS_FIELDS, type Address } from "./address.ts";
import { sameJson, unhandled, type CommandMetadata, type Decider } from "./decider.ts";
import { EVENT_TYPES, whereabouts, type InstanceEvent } from "./events.ts";
import { decideHealth, type InstanceHealthCommand } from "./instanceHealth.ts";
import { telemetryRule } from "./telemetry.ts";

export type InstanceState = Instance | null;

/** An instance's telemetry: when its lease was last renewed (see domain/telemetry.ts). */
export type LeaseTelemetry = Pick<Instance, "lastHeartbeat">;
export const leaseTelemetry = telemetryRule<Instance, LeaseTelemetry>({
  of: ({ lastHeartbeat }) => (lastHeartbeat !== undefined ? { lastHeartbeat } : {}),
  with: ({ lastHeartbeat: _at, ...instance }, telemetry) => ({ ...instance, ...telemetry }),
});

export type RegisterInstance = {
  type: "RegisterInstance";
  /** `id` is the instance's id, given or chosen by the caller of decide; `address` is resolved. */
  data: { id: string; address: Address; request: RegisterInstanceRequest };
  metadata: CommandMetadata;
};
export type RemoveInstance = { type: "RemoveInstance"; data: { id: string }; metadata: CommandMetadata };
export type InstanceCommand = RegisterInstance | RemoveInstance | InstanceHealthCommand;

/**
 * One URL, one instance: the instance a registration of `url` writes to. A given id may not
 * take a URL another instance holds (409); without an id, the holder of the URL is updated,
 * or a new URL gets the id derived from it, so that racing registrations write one entity.
 */
export function registrationTarget(url: string, requested: string | undefined, holder: string | undefined, derived: string): string {
  if (requested !== undefined && holder !== undefined && holder !== requested) {
    throw conflict(`url ${url} is already registered as instance "${holder}"; register with id "${holder}" to update it, or remove it first`);
  }
  return requested ?? holder ?? derived;
}

/**
 * Whether an instance holds every tag and every metadata pair asked for (own keys only:
 * "constructor" is a key like any other): the rule of list filters and of the client's pick.
 */
export function holdsAll(instance: Instance, wanted: { tags?: string[] | undefined; metadata?: Record<string, string> | undefined }): boolean {
  if (!(wanted.tags ?? []).every((t) => instance.tags.includes(t))) return false;
  const held = instance.metadata ?? {};
  return Object.entries(wanted.metadata ?? {}).every(([key, value]) => Object.hasOwn(held, key) && held[key] === value);
}

/** The field order of every stored instance, so that replies and KV values read the same way. */
const FIELD_ORDER = [
  "id", "url", "scheme", "host", "ip", "port", "path", "slug", "deploymentId", "nodeUrl", "tags", "metadata",
  "status", "statusCause", "statusBeforeNodeOffline", "details", "check", "ttlSeconds", "graceSeconds",
  "lastHeartbeat", "createdAt", "updatedAt",
] as const;

function canonical(instance: Instance): Instance {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELD_ORDER) if (instance[field] !== undefined) ordered[field] = instance[field];
  return ordered as Instance;
}

const DESCRIPTIVE_FIELDS = ["slug", "deploymentId", "nodeUrl", "tags", "metadata", "status", "details", "check", "ttlSeconds", "graceSeconds"] as const;
const STAMPS = new Set(["createdAt", "updatedAt", "lastHeartbeat", "statusCause", "statusBeforeNodeOffline"]);

function withoutAddress(instance: Instance): Partial<Instance> {
  const rest: Partial<Instance> = { ...instance };
  for (const field of ADDRESS_FIELDS) delete rest[field];
  return rest;
}

function register(command: RegisterInstance, state: InstanceState): InstanceEvent[] {
  const { id, address, request } = command.data;
  const { now } = command.metadata;
  const given: Partial<Instance> = {};
  for (const field of DESCRIPTIVE_FIELDS) {
    if (request[field] !== undefined) (given as Record<string, unknown>)[field] = request[field];
  }
  if (state === null) {
    const instance = canonical({ id, ...address, tags: [], status: "Unknown", statusCause: "registered", ...given, lastHeartbeat: now, createdAt: now, updatedAt: now });
    return [{ type: "InstanceRegistered", data: { instance } }];
  }
  // A re-registration replaces the address as a whole and the fields it gives; the rest stays.
  const next: Instance = { ...(withoutAddress(state) as Instance), ...address, ...given };
  const changed = Object.keys({ ...state, ...next }).filter(
    (k) => !STAMPS.has(k) && !sameJson((state as Record<string, unknown>)[k], (next as Record<string, unknown>)[k]),
  );
  if (changed.length === 0) return [];
  const statusSet = next.status !== state.status ? { statusCause: "registered" as const, statusBeforeNodeOffline: undefined } : {};
  const instance = canonical({ ...next, ...statusSet, lastHeartbeat: now, updatedAt: now });
  const movedFrom = state.slug !== next.slug ? { movedFrom: state.slug !== undefined ? { slug: state.slug } : {} } : {};
  const leftNode = state.nodeUrl !== undefined && state.nodeUrl !== next.nodeUrl ? { leftNodeUrl: state.nodeUrl } : {};
  const was: Partial<Instance> = {};
  for (const field of changed) if ((state as Record<string, unknown>)[field] !== undefined) (was as Record<string, unknown>)[field] = (state as Record<string, unknown>)[field];
  return [{ type: "InstanceUpdated", data: { instance, changed: changed.sort(), was, ...movedFrom, ...leftNode } }];
}

/** What a registration did, from the events it wrote: a new instance, an update (which fields, and the slug it moved from), or nothing. */
export function registrationOutcome(events: readonly InstanceEvent[]): { outcome: "registered" | "updated" | "unchanged"; changed?: string[]; movedFrom?: { slug: string } } {
  const event = events[0];
  if (event?.type === "InstanceRegistered") return { outcome: "registered" };
  if (event?.type !== "InstanceUpdated") return { outcome: "unchanged" };
  const slug = event.data.movedFrom?.slug;
  return { outcome: "updated", changed: event.data.changed, ...(slug !== undefined ? { movedFrom: { slug } } : {}) };
}

export const instanceDecider: Decider<InstanceState, InstanceCommand, InstanceEvent> = {
  eventTypes: EVENT_TYPES.instance,
  initialState: () => null,

  decide(command, state) {
    switch (command.type) {
      case "RegisterInstance":
        return register(command, state);
      case "RemoveInstance":
        if (state === null) throw instanceNotFound(command.data.id);
        return [{ type: "InstanceRemoved", data: whereabouts(state) }];
      case "ReportStatus":
      case "RecordCheck":
      case "CheckLease":
      case "RenewLease":
      case "MarkNodeOffline":
      case "MarkNodeOnline":
        return decideHealth(command, state);
      default:
        return unhandled(command);
    }
  },

  evolve(_state, event) {
    switch (event.type) {
      case "InstanceRegistered":
      case "InstanceUpdated":
      case "InstanceStatusChanged":
        return event.data.instance;
      case "InstanceRemoved":
      case "InstanceExpired":
        return null;
      default:
        return unhandled(event);
    }
  },
};
