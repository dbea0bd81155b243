/**
 * The whole domain contract (Emmett's Decider): a command is decided against the
 * entity's current state into events; events evolve the state. Pure functions: time,
 * generated ids and the request id arrive with the command, never read here.
 */
export type Decider<State, Command, Event extends { type: string }> = {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
  /** The event types it evolves (domain/events.ts lists them per entity). */
  eventTypes: readonly Event["type"][];
};

/** Whether an event read back (untrusted, of any entity) is one this decider evolves. */
export function evolves<Event extends { type: string }>(decider: { eventTypes: readonly Event["type"][] }, event: { type: string }): event is Event {
  const types: readonly string[] = decider.eventTypes;
  return types.includes(event.type);
}

export type CommandMetadata = {
  /** RFC 3339 UTC time of the command. */
  now: string;
};

/** Ends a switch that handles every case: adding a command or event type without handling it fails to compile. */
export function unhandled(value: never): never {
  throw new Error(`unhandled ${JSON.stringify((value as { type?: unknown }).type ?? value)}`);
}

/** Structural equality of JSON values, key order ignored. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
