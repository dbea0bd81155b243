/**
 * Time travel: the registry's state as it was at a time or after a stream sequence, folded
 * from the events up to then (each entity's latest event carries its whole state). It reads
 * the stream from its start, so it costs a pass over the history kept; events dropped by the
 * per-entity limit are not there to fold. Telemetry is as of each entity's last event.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Names } from "../contract/names.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { definitionDecider } from "../domain/definition.ts";
import type { DefinitionEvent, InstanceEvent, NodeEvent, RegistryEvent } from "../domain/events.ts";
import { instanceDecider } from "../domain/instance.ts";
import { nodeDecider } from "../domain/node.ts";
import { readSubjects } from "../nats/readSubjects.ts";
import type { Unreadable } from "../unreadable.ts";
import { readEvent } from "./storedEvents.ts";

export type PastState = { definitions: Definition[]; instances: Instance[]; nodes: Node[] };

/** `asOf`: an RFC 3339 time, or the stream sequence of the last event to fold. */
export async function stateAsOf(deps: { js: JetStreamClient; names: Names; unreadable: Unreadable }, asOf: string | number): Promise<PastState> {
  const { js, names } = deps;
  const latest = new Map<string, RegistryEvent>();
  const until = typeof asOf === "number" ? asOf : Date.parse(asOf);
  for await (const m of readSubjects(js, names.eventsStream, names.eventSubjects, "all")) {
    if (typeof asOf === "number" && m.seq > until) break;
    const read = readEvent(m.data, m.subject);
    if (!read.ok) {
      deps.unreadable.skip("events", String(m.seq), read.reason, { stream: names.eventsStream, subject: m.subject, seq: m.seq });
      continue;
    }
    if (typeof asOf === "string" && Date.parse(read.value.metadata.at) > until) break;
    latest.set(m.subject, read.value);
  }
  const past: PastState = { definitions: [], instances: [], nodes: [] };
  const entityAt = `${names.prefix}.events.`.length;
  for (const [subject, event] of latest) {
    // Each entity's subject holds only its own events (readEvent checks), so its kind says which fold applies.
    const entity = subject.slice(entityAt, subject.indexOf(".", entityAt));
    if (entity === "definition") push(past.definitions, definitionDecider.evolve(null, event as DefinitionEvent));
    else if (entity === "instance") push(past.instances, instanceDecider.evolve(null, event as InstanceEvent));
    else if (entity === "node") push(past.nodes, nodeDecider.evolve(null, event as NodeEvent));
  }
  return past;
}

const push = <T>(list: T[], value: T | null) => void (value !== null && list.push(value));
