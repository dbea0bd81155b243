/**
 * How a snapshot is laid out, apart from where it is stored: the read models' state at one
 * event sequence, cut into parts so that a question about one slug reads one part.
 *
 * A part holds lines `<event subject>\t<entity state as JSON>`, sorted by subject, and is
 * stored by the SHA-256 of those bytes: a part that did not change between two snapshots is
 * the same part, written once. Definitions are one part, nodes another; instances are cut
 * into `shards` parts by their slug. A manifest names the parts and says which event
 * (sequence, subject, time, and the stream's creation time) the snapshot reflects; it is
 * written last, so a snapshot without its manifest does not exist.
 *
 * A `full` snapshot holds every entity; a `delta` holds what changed since the snapshot it
 * follows (`after`), a state `null` saying an entity left that part. The state at a delta is
 * its chain folded in order: the full one, then each delta to it. A delta costs what changed;
 * every so many deltas the chain is folded into a new full snapshot.
 */
import Type, { type Static } from "typebox";
import { reader } from "../contract/validate.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { definitionDecider } from "../domain/definition.ts";
import type { DefinitionEvent, InstanceEvent, NodeEvent, RegistryEvent } from "../domain/events.ts";
import { instanceDecider } from "../domain/instance.ts";
import { nodeDecider } from "../domain/node.ts";

export const SNAPSHOT_FORMAT = 1;

/** The parts of one kind of entity: instances in shards by slug, the others in one part each. */
export type SnapshotEntity = "definition" | "instance" | "node";
export const SNAPSHOT_ENTITIES: readonly SnapshotEntity[] = ["definition", "instance", "node"];

const PartRef = Type.Object({
  digest: Type.String({ pattern: "^[0-9a-f]{64}$" }),
  chunks: Type.Integer({ minimum: 1 }),
  bytes: Type.Integer({ minimum: 0 }),
  entities: Type.Integer({ minimum: 0 }),
});
export type PartRef = Static<typeof PartRef>;

export const Manifest = Type.Object({
  format: Type.Literal(SNAPSHOT_FORMAT),
  kind: Type.Union([Type.Literal("full"), Type.Literal("delta")]),
  /** A delta: the sequence of the snapshot it follows; a full one: 0. */
  after: Type.Integer({ minimum: 0 }),
  /** The stream sequence of the last event folded in. */
  seq: Type.Integer({ minimum: 1 }),
  /** That event's subject and time (its metadata.at): the stamp checked against the stream. */
  subject: Type.String(),
  at: Type.String(),
  /** The event stream's creation time: a stream deleted and made again does not match. */
  streamCreated: Type.String(),
  writtenAt: Type.String(),
  shards: Type.Integer({ minimum: 1, maximum: 65536 }),
  /** Part name (`definition`, `node`, `instance.<shard>`) to the stored part; a part with no entity is left out. */
  parts: Type.Record(Type.String(), PartRef),
});
export type Manifest = Static<typeof Manifest>;
export const readManifest = reader(Manifest);

/** FNV-1a: the same shard for a slug in every process and version. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** An entity's state after its latest event, which carries its whole state (null: it is gone). */
export function stateAfter(entity: SnapshotEntity, event: RegistryEvent): Definition | Instance | Node | null {
  if (entity === "definition") return definitionDecider.evolve(null, event as DefinitionEvent);
  if (entity === "node") return nodeDecider.evolve(null, event as NodeEvent);
  return instanceDecider.evolve(null, event as InstanceEvent);
}

/** The part an entity's state lives in; instances by slug (no slug: the shard of ""). */
export function partOf(entity: SnapshotEntity, slug: string | undefined, shards: number): string {
  return entity === "instance" ? `instance.${hash(slug ?? "") % shards}` : entity;
}

/** The slug an instance had before `event` (undefined: none, or it did not exist). */
export function slugBefore(event: InstanceEvent): string | undefined {
  switch (event.type) {
    case "InstanceUpdated":
      return event.data.movedFrom ? event.data.movedFrom.slug : event.data.instance.slug;
    case "InstanceStatusChanged":
    case "InstanceRegistered":
      return event.data.instance.slug;
    case "InstanceRemoved":
    case "InstanceExpired":
      return event.data.slug;
  }
}

/** One part's content: event subject to the entity's state, as JSON text (kept as text: copied, not parsed, when a part is rewritten); `null` in a delta: gone. */
export type PartLines = Map<string, string>;

/** A delta's line for an entity that left the part. */
export const GONE = "null";

/** Folds a delta part's lines into the lines so far. */
export function applyDelta(lines: PartLines, delta: PartLines): void {
  for (const [subject, state] of delta) {
    if (state === GONE) lines.delete(subject);
    else lines.set(subject, state);
  }
}

export function encodePart(lines: PartLines): string {
  let out = "";
  for (const subject of [...lines.keys()].sort()) out += `${subject}\t${lines.get(subject)!}\n`;
  return out;
}

/** A part's lines; undefined when the text is not a part (then the snapshot is not trusted). */
export function decodePart(text: string): PartLines | undefined {
  const lines: PartLines = new Map();
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    const tab = text.indexOf("\t", at);
    if (end < 0 || tab < 0 || tab > end) return undefined;
    lines.set(text.slice(at, tab), text.slice(tab + 1, end));
    at = end + 1;
  }
  return lines;
}

/**
 * How snapshots are pruned (docs/API.md, "Snapshots"): every one written in the last `days`
 * (time travel over that span starts from one), and the newest `newest` whatever their age.
 */
export type KeepRule = { newest: number; days: number };

/** The manifests the rule keeps, of those given (each with its sequence and when it was written). */
export function snapshotsKept<M extends { seq: number; writtenAt: string }>(manifests: readonly M[], now: Date, rule: KeepRule): Set<M> {
  const bySeq = [...manifests].sort((a, b) => b.seq - a.seq);
  const kept = new Set(bySeq.slice(0, rule.newest));
  const since = now.getTime() - rule.days * 86_400_000;
  for (const m of bySeq) if (Date.parse(m.writtenAt) >= since) kept.add(m);
  return kept;
}
