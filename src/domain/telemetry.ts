/**
 * Decides which telemetry is current. Telemetry (a node's heartbeats, an instance's lease
 * renewals) is not an event: it is folded into an entity's entry between events, dated by
 * `lastHeartbeat`, and the newer wins.
 */

/** Whether telemetry dated `at` is newer than what `entity` holds. */
export function isNewerTelemetry(entity: { lastHeartbeat?: string | undefined }, at: string | undefined): boolean {
  if (at === undefined) return false;
  return entity.lastHeartbeat === undefined || Date.parse(at) > Date.parse(entity.lastHeartbeat);
}
