/**
 * The health side of an instance's lifecycle: status reported by the instance, check
 * outcomes, leases, and the instance's node going offline and coming back. Each decision
 * writes at most one InstanceStatusChanged (or InstanceExpired), with its cause; one that
 * finds the status unchanged writes nothing. When several inputs speak at once, one rank
 * decides (`outranks`), so they never take turns overwriting each other.
 */
import type { CheckOutcome, Instance, InstanceStatus, StatusCause } from "../contract/schemas.ts";
import { instanceNotFound } from "../contract/errors.ts";
import { unhandled, type CommandMetadata } from "./decider.ts";
import { whereabouts, type InstanceEvent } from "./events.ts";

export type ReportStatus = {
  type: "ReportStatus";
  data: { id: string; status: InstanceStatus; details?: string; by: "instance" | "operator" };
  metadata: CommandMetadata;
};
export type RecordCheck = { type: "RecordCheck"; data: { id: string; outcome: CheckOutcome; detail: string; checkedBy: string }; metadata: CommandMetadata };
/** The lease monitor saw no renewal since `lastRenewal`. */
export type CheckLease = { type: "CheckLease"; data: { id: string; lastRenewal: string }; metadata: CommandMetadata };
export type RenewLease = { type: "RenewLease"; data: { id: string }; metadata: CommandMetadata };
export type MarkNodeOffline = { type: "MarkNodeOffline"; data: { id: string; nodeId: string }; metadata: CommandMetadata };
export type MarkNodeOnline = { type: "MarkNodeOnline"; data: { id: string; nodeId: string }; metadata: CommandMetadata };
export type InstanceHealthCommand = ReportStatus | RecordCheck | CheckLease | RenewLease | MarkNodeOffline | MarkNodeOnline;

export const STATUS_OF_OUTCOME: Record<CheckOutcome, InstanceStatus> = {
  passed: "Healthy",
  slow: "Degraded",
  failed: "Unhealthy",
  unreachable: "Unreachable",
};

/** When a lapsed lease deregisters the instance, after its grace period. */
export const graceSecondsOf = (i: Instance) => i.graceSeconds ?? 2 * (i.ttlSeconds ?? 0);

/** When a lease renewed at `lastRenewal` (a time, or epoch milliseconds) lapses. */
export function leaseLapsesAt(i: Instance, lastRenewal: string | number): number {
  return (typeof lastRenewal === "number" ? lastRenewal : Date.parse(lastRenewal)) + (i.ttlSeconds ?? Infinity) * 1000;
}

/**
 * Which input decides when several speak at once: the instance's node being offline
 * outranks a lapsed lease, which outranks an active check. What the instance or an
 * operator set, a registration and the recoveries rank lowest: they hold until an input
 * of higher rank speaks. An input of lower rank than the current cause changes nothing.
 */
const RANK: Record<StatusCause, number> = {
  "node-offline": 3,
  "lease-expired": 2,
  "check-passed": 1,
  "check-slow": 1,
  "check-failed": 1,
  "check-unreachable": 1,
  registered: 0,
  reported: 0,
  operator: 0,
  "lease-renewed": 0,
  "node-online": 0,
};

export const outranks = (cause: StatusCause, current: StatusCause | undefined) => RANK[cause] >= RANK[current ?? "registered"];

/** Whether a check with this outcome changes the instance's status (the checker reports only those). */
export function checkChangesStatus(state: Instance, outcome: CheckOutcome): boolean {
  const to = STATUS_OF_OUTCOME[outcome];
  if (!state.check || state.status === "Stopping" || !outranks(`check-${outcome}`, state.statusCause)) return false;
  if (state.status === "Starting" && (to === "Unhealthy" || to === "Unreachable")) return false; // still starting
  return to !== state.status;
}

/**
 * A renewal is telemetry; it is an event only when it brings the instance back: after its
 * lease lapsed, or the first renewal of an instance that only a lease tells about.
 */
export const renewalRecovers = (state: Instance) =>
  state.ttlSeconds !== undefined && (state.statusCause === "lease-expired" || (state.status === "Unknown" && !state.check));

/** Healthy and Degraded instances take traffic. */
export const takesTraffic = (status: InstanceStatus) => status === "Healthy" || status === "Degraded";

/** The panic fallback when none takes traffic: whatever is not going away or out of reach. */
export const mayTakeTraffic = (i: Instance) => i.status !== "Stopping" && i.status !== "Unreachable";

/**
 * The instances a caller sends traffic to, of those it may choose from: the Healthy, then the
 * Degraded; when none takes traffic, whatever may (the panic fallback: better an Unknown or
 * Unhealthy instance than none). pick() and the DNS answers both choose by it.
 */
export function trafficTargets(instances: Iterable<Instance>): Instance[] {
  const all = [...instances];
  const healthy = all.filter((i) => i.status === "Healthy");
  const taking = [...healthy, ...all.filter((i) => i.status === "Degraded")];
  return taking.length > 0 ? taking : all.filter(mayTakeTraffic);
}

export type LeaseVerdict = "live" | "lapsed" | "expired";

/** Where the lease stands at `nowMs`: renewed in time, lapsed (Unhealthy), or past its grace (deregistered). */
export function leaseVerdict(state: Instance, lastRenewal: string, nowMs: number): LeaseVerdict {
  if (state.ttlSeconds === undefined) return "live";
  const lapsesAt = leaseLapsesAt(state, lastRenewal);
  if (nowMs < lapsesAt) return "live";
  return nowMs >= lapsesAt + graceSecondsOf(state) * 1000 ? "expired" : "lapsed";
}

/** Whether a lapsed lease changes the status: not when it already did, nor over an offline node. */
export const lapseChangesStatus = (state: Instance) => state.statusCause !== "lease-expired" && outranks("lease-expired", state.statusCause);

const later = (a: string | undefined, b: string) => (a !== undefined && Date.parse(a) > Date.parse(b) ? a : b);

function changeStatus(
  state: Instance,
  to: InstanceStatus,
  cause: StatusCause,
  reason: string,
  now: string,
  patch: Partial<Instance> = {},
): InstanceEvent[] {
  const { statusBeforeNodeOffline: _kept, ...rest } = state;
  const instance: Instance = { ...rest, ...patch, status: to, statusCause: cause, updatedAt: now };
  return [{ type: "InstanceStatusChanged", data: { instance, from: state.status, to, cause, reason } }];
}

export function decideHealth(command: InstanceHealthCommand, state: Instance | null): InstanceEvent[] {
  const { now } = command.metadata;
  if (state === null) {
    if (command.type === "ReportStatus" || command.type === "RenewLease") {
      throw instanceNotFound(command.data.id);
    }
    return [];
  }
  switch (command.type) {
    case "ReportStatus": {
      const { status, details, by } = command.data;
      if (status === state.status && details === state.details) return [];
      const cause = by === "operator" ? "operator" : "reported";
      return changeStatus(state, status, cause, `${by === "operator" ? "an operator" : "the instance"} set ${status}`, now, details !== undefined ? { details } : {});
    }

    case "RecordCheck": {
      const { outcome, detail, checkedBy } = command.data;
      if (!checkChangesStatus(state, outcome)) return [];
      return changeStatus(state, STATUS_OF_OUTCOME[outcome], `check-${outcome}`, `${detail} (checked by ${checkedBy})`, now, { details: detail });
    }

    case "CheckLease": {
      const lastRenewal = later(state.lastHeartbeat, command.data.lastRenewal);
      const verdict = leaseVerdict(state, lastRenewal, Date.parse(now));
      if (verdict === "expired") {
        const reason = `lease of ${state.ttlSeconds}s not renewed since ${lastRenewal}; deregistered after ${graceSecondsOf(state)}s of grace`;
        return [{ type: "InstanceExpired", data: { ...whereabouts(state), reason } }];
      }
      if (verdict === "live" || !lapseChangesStatus(state)) return [];
      return changeStatus(state, "Unhealthy", "lease-expired", `lease of ${state.ttlSeconds}s not renewed since ${lastRenewal}`, now, {
        details: `lease lapsed at ${new Date(leaseLapsesAt(state, lastRenewal)).toISOString()}`,
      });
    }

    case "RenewLease": {
      if (!renewalRecovers(state)) return [];
      const to: InstanceStatus = state.check ? "Unknown" : "Healthy";
      return changeStatus(state, to, "lease-renewed", `lease renewed at ${now}`, now, { lastHeartbeat: now });
    }

    case "MarkNodeOffline":
      if (state.statusCause === "node-offline") return [];
      return changeStatus(state, "Unreachable", "node-offline", `node ${command.data.nodeId} (${state.nodeUrl}) is offline`, now, {
        statusBeforeNodeOffline: state.status,
      });

    case "MarkNodeOnline":
      if (state.statusCause !== "node-offline") return [];
      return changeStatus(state, state.statusBeforeNodeOffline ?? "Unknown", "node-online", `node ${command.data.nodeId} (${state.nodeUrl}) is back`, now);

    default:
      return unhandled(command);
  }
}
