/**
 * Protection from mass expiry (Eureka's self-preservation): when more than a share of
 * all leases lapses within one window, the cause is more likely the network than the
 * instances, so lease expiry stops until renewals recover. One entity for the whole
 * registry; an operator can switch it off.
 */
import type { CommandMetadata, Decider } from "./decider.ts";
import { EVENT_TYPES, type ExpiryProtectionEvent, type ExpiryProtectionState } from "./events.ts";

/** What the lease monitor counted at one moment. */
export type LeaseCensus = {
  leases: number;
  /** Leases that lapsed within the window. */
  lapsedInWindow: number;
  /** Leases lapsed now, however long ago. */
  lapsedNow: number;
};

export type EvaluateProtection = {
  type: "EvaluateProtection";
  data: { census: LeaseCensus; share: number; windowMs: number };
  metadata: CommandMetadata;
};
export type SwitchProtection = { type: "SwitchProtection"; data: { enabled: boolean }; metadata: CommandMetadata };
export type ExpiryProtectionCommand = EvaluateProtection | SwitchProtection;

/** At least this many leases must lapse together to call it a mass expiry. */
export const MIN_LAPSED = 2;

const percent = (n: number) => `${Math.round(n * 100)}%`;

export const expiryProtectionDecider: Decider<ExpiryProtectionState, ExpiryProtectionCommand, ExpiryProtectionEvent> = {
  eventTypes: EVENT_TYPES.protection,
  initialState: () => ({ enabled: true, engaged: false }),

  decide(command, state) {
    const { now } = command.metadata;
    if (command.type === "SwitchProtection") {
      const { enabled } = command.data;
      if (enabled === state.enabled) return [];
      const reason = enabled ? "switched on by an operator" : "switched off by an operator; leases expire whatever their number";
      return [{ type: "ExpiryProtectionSwitched", data: { state: { enabled, engaged: false }, reason } }];
    }
    const { census, share, windowMs } = command.data;
    if (!state.enabled || census.leases === 0) return [];
    if (!state.engaged) {
      const lapsedShare = census.lapsedInWindow / census.leases;
      if (census.lapsedInWindow < MIN_LAPSED || lapsedShare <= share) return [];
      const reason = `${census.lapsedInWindow} of ${census.leases} leases (${percent(lapsedShare)}) lapsed within ${windowMs / 1000}s, over the ${percent(share)} limit; lease expiry is paused`;
      return [{ type: "ExpiryProtectionEngaged", data: { state: { enabled: true, engaged: true, since: now, reason }, reason } }];
    }
    const lapsedShare = census.lapsedNow / census.leases;
    if (lapsedShare > share) return [];
    const reason = `renewals recovered: ${census.lapsedNow} of ${census.leases} leases (${percent(lapsedShare)}) lapsed, within the ${percent(share)} limit; lease expiry resumes`;
    return [{ type: "ExpiryProtectionReleased", data: { state: { enabled: true, engaged: false }, reason } }];
  },

  evolve: (_state, event) => event.data.state,
};
