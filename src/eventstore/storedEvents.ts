/**
 * Events as read back from the stream: untrusted bytes until they match the schema of
 * their type. Every event type has one (the record below fails to compile when one is
 * missing); an event that is not JSON, has a type this version does not know, or does not
 * match is unreadable, and its reader skips it.
 */
import Type, { type TSchema } from "typebox";
import { SLUG_PATTERN } from "../contract/ids.ts";
import { Caller, Definition, ExpiryProtection, Id, Instance, InstanceStatus, Node, STATUS_CAUSES } from "../contract/schemas.ts";
import type { RequestFace } from "../contract/api.ts";
import { reader, type ReadResult, type Reader } from "../contract/validate.ts";
import type { RegistryEvent } from "../domain/events.ts";
import { isEventSubjectOf } from "../contract/names.ts";

/**
 * When, for which request, by whom (absent: the registry itself, or a request from inside its
 * account or to an open registry) and through which face (absent: the registry's own decision).
 */
export type EventMetadata = { at: string; requestId?: string; commandId?: string; by?: Caller; via?: RequestFace };
export type EventEnvelope = RegistryEvent & { metadata: EventMetadata };

const Reason = Type.String();
const Slug = Type.Optional(Type.String({ pattern: SLUG_PATTERN }));
const NodeChange = Type.Object({ node: Node, reason: Reason });
const ProtectionChange = Type.Object({
  state: ExpiryProtection,
  reason: Reason,
});

const DATA: Record<RegistryEvent["type"], TSchema> = {
  DefinitionSaved: Type.Object({ definition: Definition }),
  DefinitionRemoved: Type.Object({ id: Id }),
  InstanceRegistered: Type.Object({ instance: Instance }),
  InstanceUpdated: Type.Object({ instance: Instance, changed: Type.Array(Type.String()), was: Type.Optional(Type.Record(Type.String(), Type.Unknown())), movedFrom: Type.Optional(Type.Object({ slug: Slug })), leftNodeUrl: Type.Optional(Type.String()) }),
  InstanceRemoved: Type.Object({ id: Id, slug: Slug, nodeUrl: Type.Optional(Type.String()) }),
  InstanceStatusChanged: Type.Object({ instance: Instance, from: InstanceStatus, to: InstanceStatus, cause: Type.Enum([...STATUS_CAUSES]), reason: Reason }),
  InstanceExpired: Type.Object({ id: Id, slug: Slug, nodeUrl: Type.Optional(Type.String()), reason: Reason }),
  NodeJoined: NodeChange,
  NodeUpdated: Type.Object({ node: Node, changed: Type.Array(Type.String()), reason: Reason }),
  NodeWentOffline: NodeChange,
  NodeCameBack: NodeChange,
  NodeRemoved: Type.Object({ id: Id, url: Type.String(), reason: Reason }),
  ExpiryProtectionEngaged: ProtectionChange,
  ExpiryProtectionReleased: ProtectionChange,
  ExpiryProtectionSwitched: ProtectionChange,
};

const Metadata = Type.Object({
  at: Type.String({ format: "date-time" }),
  requestId: Type.Optional(Type.String()),
  commandId: Type.Optional(Type.String()),
  by: Type.Optional(Caller),
  via: Type.Optional(Type.Union([Type.Literal("nats"), Type.Literal("http")])),
});

const readers = new Map<string, Reader<TSchema>>(
  Object.entries(DATA).map(([type, data]) => [type, reader(Type.Object({ type: Type.Literal(type), data, metadata: Metadata }))]),
);

/** The entity subject's last two tokens (`<entity>.<id>`) an event belongs on. */
function entityOf(e: RegistryEvent): string {
  switch (e.type) {
    case "DefinitionSaved":
      return `definition.${e.data.definition.id}`;
    case "DefinitionRemoved":
      return `definition.${e.data.id}`;
    case "InstanceRegistered":
    case "InstanceUpdated":
    case "InstanceStatusChanged":
      return `instance.${e.data.instance.id}`;
    case "InstanceRemoved":
    case "InstanceExpired":
      return `instance.${e.data.id}`;
    case "NodeJoined":
    case "NodeUpdated":
    case "NodeWentOffline":
    case "NodeCameBack":
      return `node.${e.data.node.id}`;
    case "NodeRemoved":
      return `node.${e.data.id}`;
    case "ExpiryProtectionEngaged":
    case "ExpiryProtectionReleased":
    case "ExpiryProtectionSwitched":
      return "protection.expiry";
  }
}

/** The event in `bytes`, found on `subject`, or why this version cannot read it. */
export function readEvent(bytes: Uint8Array, subject: string): ReadResult<EventEnvelope> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const type = (parsed as { type?: unknown } | null)?.type;
  const read = typeof type === "string" ? readers.get(type) : undefined;
  if (!read) return { ok: false, reason: `unknown event type ${JSON.stringify(type) ?? "(none)"}` };
  const result = read(parsed) as ReadResult<EventEnvelope>;
  if (result.ok && !isEventSubjectOf(subject, entityOf(result.value))) {
    return { ok: false, reason: `an event of ${entityOf(result.value)} found on ${subject}` };
  }
  return result;
}
