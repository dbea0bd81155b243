/**
 * Every event of the registry. Events are past tense and carry the entity's whole state
 * after the change (or its id when it is gone): the latest event of an entity's subject
 * is therefore a snapshot of it, which is what lets the write path read one message per
 * command instead of folding the entity's whole history.
 */
import type { Definition, ExpiryProtection, Instance, InstanceStatus, Node, StatusCause } from "../contract/schemas.ts";

export type DefinitionSaved = { type: "DefinitionSaved"; data: { definition: Definition } };
export type DefinitionRemoved = { type: "DefinitionRemoved"; data: { id: string } };
export type DefinitionEvent = DefinitionSaved | DefinitionRemoved;

export type InstanceRegistered = { type: "InstanceRegistered"; data: { instance: Instance } };
export type InstanceUpdated = {
  type: "InstanceUpdated";
  /**
   * `movedFrom` is present when the owning slug changed; its slug is absent when there was none.
   * `leftNodeUrl` is the node the instance named until this update gave it another or none (the
   * per-node index deletes its entry there). `was` holds the changed fields' values before (a
   * field absent from it had none), so that history can say what changed from what; events
   * written before it existed lack it.
   */
  data: { instance: Instance; changed: string[]; was?: Partial<Instance>; movedFrom?: { slug?: string }; leftNodeUrl?: string };
};
/** Where a removed instance was: its slug's key and the node it named go with it. */
export type InstanceWhereabouts = { id: string; slug?: string; nodeUrl?: string };
/** What a removal event says of where the instance was: its id, slug and node. */
export function whereabouts(i: Instance): InstanceWhereabouts {
  return { id: i.id, ...(i.slug !== undefined ? { slug: i.slug } : {}), ...(i.nodeUrl !== undefined ? { nodeUrl: i.nodeUrl } : {}) };
}
export type InstanceRemoved = { type: "InstanceRemoved"; data: InstanceWhereabouts };
export type InstanceStatusChanged = {
  type: "InstanceStatusChanged";
  data: { instance: Instance; from: InstanceStatus; to: InstanceStatus; cause: StatusCause; reason: string };
};
/** Deregistered because its lease lapsed and the grace period passed. */
export type InstanceExpired = { type: "InstanceExpired"; data: InstanceWhereabouts & { reason: string } };
export type InstanceEvent = InstanceRegistered | InstanceUpdated | InstanceRemoved | InstanceStatusChanged | InstanceExpired;

export type NodeJoined = { type: "NodeJoined"; data: { node: Node; reason: string } };
export type NodeUpdated = { type: "NodeUpdated"; data: { node: Node; changed: string[]; reason: string } };
export type NodeWentOffline = { type: "NodeWentOffline"; data: { node: Node; reason: string } };
export type NodeCameBack = { type: "NodeCameBack"; data: { node: Node; reason: string } };
export type NodeRemoved = { type: "NodeRemoved"; data: { id: string; url: string; reason: string } };
export type NodeEvent = NodeJoined | NodeUpdated | NodeWentOffline | NodeCameBack | NodeRemoved;

/** What the expiry protection is (contract/schemas.ts): its events carry it whole. */
export type ExpiryProtectionState = ExpiryProtection;
export type ExpiryProtectionEngaged = { type: "ExpiryProtectionEngaged"; data: { state: ExpiryProtectionState; reason: string } };
export type ExpiryProtectionReleased = { type: "ExpiryProtectionReleased"; data: { state: ExpiryProtectionState; reason: string } };
export type ExpiryProtectionSwitched = { type: "ExpiryProtectionSwitched"; data: { state: ExpiryProtectionState; reason: string } };
export type ExpiryProtectionEvent = ExpiryProtectionEngaged | ExpiryProtectionReleased | ExpiryProtectionSwitched;

export type RegistryEvent = DefinitionEvent | InstanceEvent | NodeEvent | ExpiryProtectionEvent;

/** The event types of each entity, listed once: its decider evolves them, its projection handles them. */
export const EVENT_TYPES = {
  definition: ["DefinitionSaved", "DefinitionRemoved"],
  instance: ["InstanceRegistered", "InstanceUpdated", "InstanceRemoved", "InstanceStatusChanged", "InstanceExpired"],
  node: ["NodeJoined", "NodeUpdated", "NodeWentOffline", "NodeCameBack", "NodeRemoved"],
  protection: ["ExpiryProtectionEngaged", "ExpiryProtectionReleased", "ExpiryProtectionSwitched"],
} as const satisfies {
  definition: readonly DefinitionEvent["type"][];
  instance: readonly InstanceEvent["type"][];
  node: readonly NodeEvent["type"][];
  protection: readonly ExpiryProtectionEvent["type"][];
};
type Listed = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES][number];
// Does not compile while an event type is missing from its entity's list.
const everyTypeListed: Record<Exclude<RegistryEvent["type"], Listed>, never> = {};
void everyTypeListed;

const INSTANCE_EVENT_TYPES = new Set<RegistryEvent["type"]>(EVENT_TYPES.instance);

/**
 * Whom an event is about, for who may read it: for an instance's event, the slug the
 * instance had once it was written (`{slug: undefined}` for one without); nothing for events
 * of other entities. An id can change slugs over its life, so this is asked of each event.
 */
export function instanceSlugOf(e: RegistryEvent): { slug: string | undefined } | undefined {
  if (!INSTANCE_EVENT_TYPES.has(e.type)) return undefined;
  const data = e.data as { instance?: Instance; slug?: string };
  return { slug: data.instance ? data.instance.slug : data.slug };
}
