/**
 * Decides which telemetry is current. Telemetry (a node's heartbeats, an instance's lease
 * renewals) is not an event: it is folded into an entity's entry between events, dated by
 * `lastHeartbeat`, and the newer wins, with the telemetry fields that came with it. Each
 * entity says which fields are its telemetry (`TelemetryParts`); the rule is written here once.
 */

type Dated = { lastHeartbeat?: string | undefined };

/** Whether telemetry dated `at` is newer than what `entity` holds. */
export function isNewerTelemetry(entity: Dated, at: string | undefined): boolean {
  if (at === undefined) return false;
  return entity.lastHeartbeat === undefined || Date.parse(at) > Date.parse(entity.lastHeartbeat);
}

/** Which fields of an entity are telemetry: how to take them out, and how to put others in their place. */
export type TelemetryParts<T extends Dated, F extends Dated> = {
  of: (entity: T) => F;
  /** The entity with `telemetry` in place of its own (fields `telemetry` lacks are gone). */
  with: (entity: T, telemetry: F) => T;
};

export type TelemetryRule<T extends Dated, F extends Dated> = TelemetryParts<T, F> & {
  /** An event's snapshot meeting the stored entry: the stored telemetry is kept when it is newer. */
  keepNewer: (stored: T, snapshot: T) => T;
  /** Telemetry folded into an entry; null when the entry already holds newer (nothing to write). */
  fold: (stored: T, telemetry: F) => T | null;
};

export function telemetryRule<T extends Dated, F extends Dated>(parts: TelemetryParts<T, F>): TelemetryRule<T, F> {
  return {
    ...parts,
    keepNewer: (stored, snapshot) => (isNewerTelemetry(snapshot, stored.lastHeartbeat) ? parts.with(snapshot, parts.of(stored)) : snapshot),
    fold: (stored, telemetry) => (isNewerTelemetry(stored, telemetry.lastHeartbeat) ? parts.with(stored, telemetry) : null),
  };
}
