/**
 * Decides who may do what. NATS says who a caller is (its account); the registry's policy
 * gives that account a role, and a service its slug and the slugs it may read. Seed 002's
 * permissions (`registry-svc:instance:view` and the rest) are granted to roles here, once.
 */
import type { Caller } from "../contract/api.ts";
import type { Instance } from "../contract/schemas.ts";
import { forbidden } from "../contract/errors.ts";
import { DERIVED_ID_PREFIX } from "../contract/ids.ts";
import { PERMISSIONS, type Permission } from "../contract/permissions.ts";
import type { Address } from "./address.ts";
import { addressGranted, parseGrant, type AddressGrant } from "./addressGrants.ts";

export const ROLES = ["admin", "viewer", "deployer", "proxy", "service", "agent"] as const;
export type Role = (typeof ROLES)[number];



/**
 * Who is asking. `registry`: the registry's own account (its processes and node agents),
 * trusted; `open`: no policy is configured, everything is allowed (a loopback development
 * server); `member`: an account the policy names; `stranger`: an account it does not.
 */
/** An agent user's node, and the URL the node heartbeats with, as the policy binds them. */
export type NodeBinding = { id: string; url: string };

export type Principal =
  | { kind: "registry" }
  | { kind: "open" }
  | { kind: "member"; account: string; role: Role; slug?: string; reads: readonly string[]; addresses?: readonly string[]; node?: NodeBinding }
  | { kind: "stranger"; account: string };

const ALL: readonly Permission[] = PERMISSIONS;
const VIEW: readonly Permission[] = ["instance:view", "definition:view", "node:view", "health:view"];

/** What each role may do; a service's instance permissions are limited to its slugs (`slugAllowed`). */
const GRANTS: Record<Role, readonly Permission[]> = {
  admin: ALL,
  viewer: [...VIEW, "audit:view"],
  deployer: [...VIEW, "audit:view", "instance:edit", "instance:delete", "definition:edit", "definition:delete"],
  proxy: VIEW,
  service: [...VIEW, "instance:edit", "instance:delete"],
  /** Node agents: they read instances to check those naming their node, and report the outcomes. */
  agent: [...VIEW, "check:report"],
};

const who = (p: Principal) =>
  p.kind === "member" ? `account ${p.account} (${p.role}${p.slug ? ` of ${p.slug}` : ""}${p.node ? ` of node ${p.node.id}` : ""})` : p.kind === "stranger" ? `account ${p.account}` : p.kind;

/** What `p` may do, as the page and the CLI show it before anything is tried: its permissions, and the one slug a service's instance permissions other than view are limited to. */
export function grantsOf(p: Principal): { who: string; permissions: Permission[]; ownSlug?: string; setsStatusAs: "operator" | "instance" } {
  if (p.kind === "open") return { who: "anyone: this registry runs without a policy", permissions: [...ALL], setsStatusAs: "operator" };
  if (p.kind === "registry") return { who: "the registry's own account", permissions: [...ALL], setsStatusAs: "operator" };
  if (p.kind === "stranger") return { who: who(p), permissions: [], setsStatusAs: "instance" };
  const setsStatusAs = OPERATORS.includes(p.role) ? "operator" : "instance";
  return { who: who(p), permissions: [...GRANTS[p.role]], ...(p.role === "service" && p.slug !== undefined ? { ownSlug: p.slug } : {}), setsStatusAs };
}

/** The slugs whose instances `p` may read: every one, or these. */
export function readableSlugs(p: Principal): "all" | ReadonlySet<string> {
  if (p.kind !== "member" || p.role !== "service") return p.kind === "stranger" ? new Set() : "all";
  return new Set([...(p.slug ? [p.slug] : []), ...p.reads]);
}

function slugAllowed(p: Principal, permission: Permission, slug: string | undefined): boolean {
  if (p.kind !== "member" || p.role !== "service" || !permission.startsWith("instance:")) return true;
  if (permission === "instance:view") {
    const readable = readableSlugs(p);
    return readable === "all" || (slug !== undefined && readable.has(slug));
  }
  return slug !== undefined && slug === p.slug;
}

/** Whether `p` may do `permission` (on an instance of `slug`, for instance permissions). */
export function may(p: Principal, permission: Permission, slug?: string): boolean {
  if (p.kind === "registry" || p.kind === "open") return true;
  if (p.kind === "stranger") return false;
  return GRANTS[p.role].includes(permission) && slugAllowed(p, permission, slug);
}

/**
 * Throws 403 unless `p` may do `permission` (on an instance of `slug`, for instance
 * permissions), with a message that says what it may do instead.
 */
export function assertMay(p: Principal, permission: Permission, slug?: string): void {
  if (may(p, permission, slug)) return;
  if (p.kind === "stranger") {
    throw forbidden(`${who(p)} has no role in the registry's policy, so it may do nothing; ask an operator to add it`);
  }
  if (p.kind !== "member") return; // unreachable: may() lets the registry's own account and an open registry through
  if (!GRANTS[p.role].includes(permission)) {
    throw forbidden(`${who(p)} lacks registry-svc:${permission}; a ${p.role} may ${GRANTS[p.role].join(", ")}`);
  }
  const target = slug === undefined ? "instances without a slug" : `instances of ${slug}`;
  const mine = p.slug ? `its own instances (${p.slug})` : "no instances";
  const readable = permission === "instance:view" && p.reads.length > 0 ? `, and read those of ${p.reads.join(", ")}` : "";
  throw forbidden(`${who(p)} may not ${permission.split(":")[1]} ${target}; it may change ${mine}${readable}`);
}

/** The slug a service's new instance gets: its own, whatever the payload says; refused when the payload names another. */
export function ownedSlug(p: Principal, requested: string | undefined): string | undefined {
  if (p.kind !== "member" || p.role !== "service") return requested;
  if (requested !== undefined && requested !== p.slug) {
    throw forbidden(`${who(p)} registers instances of ${p.slug ?? "no slug"} only, not of ${requested}; leave slug out or set it to ${p.slug}`);
  }
  return p.slug;
}

/** Operators (admins, deployers) register anywhere and any id; a service only inside its grants and its own ids. */
const boundToGrants = (p: Principal): p is Principal & { kind: "member" } => p.kind === "member" && p.role === "service";

/**
 * Throws 403 unless `p` may register an instance at `address`: a service only at the
 * addresses its policy entry grants (`addresses`), so none can take another's URL, and its
 * checks probe nothing else.
 */
export function assertMayRegisterAt(p: Principal, address: Address): void {
  if (!boundToGrants(p)) return;
  const texts = p.addresses ?? [];
  const grants = texts.map(parseGrant).filter((g): g is AddressGrant => typeof g !== "string");
  if (addressGranted(grants, address)) return;
  const allowed = texts.length > 0 ? `its policy grants it ${texts.join(", ")} only; register an address inside them` : "its policy grants it no addresses";
  throw forbidden(`${who(p)} may not register an instance at ${address.url}: ${allowed}, or ask an operator to add this one to its "addresses"`);
}

/** The ids a service may choose begin with its slug and `_`, so no service can take another's id. */
export const ownIdPrefix = (slug: string) => `${slug}_`;

/** Whether two slugs' own ids could meet (`a` and `a_b`: `a_b_1` would be both's), which a policy must not allow. */
export const idPrefixesMeet = (a: string, b: string) => ownIdPrefix(a).startsWith(ownIdPrefix(b)) || ownIdPrefix(b).startsWith(ownIdPrefix(a));

/**
 * Throws 403 unless `p` may give a new instance (or a removed one's) the id `id`: a service
 * its own (`<slug>_...`), or the id the registry derives from the instance's url (`derived`,
 * which a service re-registering after its lease lapsed sends back). Ids of instances that
 * exist are a matter of who owns them, not of this rule.
 */
export function assertMayChooseId(p: Principal, id: string, derived: string): void {
  if (!boundToGrants(p) || id === derived) return;
  const prefix = ownIdPrefix(p.slug ?? "");
  if (p.slug !== undefined && id.startsWith(prefix) && !id.startsWith(DERIVED_ID_PREFIX)) return;
  throw forbidden(`${who(p)} may not choose the id "${id}": the ids a service chooses start with ${prefix} (such as ${prefix}1); or leave id out and the registry derives one from the url`);
}

/**
 * The causes whose details someone stated: the instance or an operator (given with the status
 * or the registration) or the lease's own words. A check's status keeps the probe's answer in
 * details, and causes that state none (node-offline, node-online, lease-renewed) keep the
 * details before them, which may be a check's.
 */
const STATED_DETAILS = new Set<Instance["statusCause"]>(["registered", "reported", "operator", "lease-expired"]);

/** An instance as a caller who may not see what checks saw reads it: its status and cause, without the probe's answer. */
function outcomeOnly(instance: Instance): Instance {
  if (STATED_DETAILS.has(instance.statusCause)) return instance;
  const { details: _probeAnswer, ...rest } = instance;
  return rest;
}

/**
 * Whether `p` sees what a check saw (the probe's answer, its error, its timing) or only its
 * outcome: the checks run from the registry's network, which a service has no view of.
 */
export const seesCheckDetail = (p: Principal) => !(p.kind === "member" && p.role === "service");

/** An instance as `p` may read it: whole, or without what checks saw. */
export const instanceSeenBy = (p: Principal, instance: Instance): Instance => (seesCheckDetail(p) ? instance : outcomeOnly(instance));

/**
 * Who ran a check, as the history tells it: for a caller, its identity (an agent's node and its
 * user, or the user or token of another role), never what the payload claims; the registry's own
 * processes and an open registry keep the reporter they name.
 */
export function checkReporter(p: Principal, caller: Caller | undefined, claimed: string): string {
  if (p.kind !== "member" || caller === undefined) return claimed;
  const user = caller.user ?? caller.name ?? caller.account;
  return p.role === "agent" && p.node !== undefined ? `node ${p.node.id} (${user})` : `${user} of ${caller.account}`;
}

/**
 * An agent reports checks only on the instances naming its own node: the instance's nodeUrl is
 * the URL the policy binds its node to. `instance` undefined: there is no such instance, which
 * the operation answers (404). Other roles are decided by their permission alone.
 */
export function assertMayReportOn(p: Principal, id: string, instance: { nodeUrl?: string | undefined } | undefined): void {
  if (p.kind !== "member" || p.role !== "agent") return;
  if (p.node === undefined) {
    throw forbidden(`${who(p)} is bound to no node, so it may report no checks; give its user a node in the policy (accounts.${p.account}.nodes: {"<user>": {"node": "<node id>", "url": "<its OB_SELF_URL>"}})`);
  }
  if (instance !== undefined && instance.nodeUrl !== p.node.url) {
    throw forbidden(`${who(p)} reports checks on the instances of its node only (nodeUrl ${p.node.url}); instance ${id} names ${instance.nodeUrl ?? "no node"}`);
  }
}

/** Roles whose status reports are an operator's: they act on instances that are not theirs. */
const OPERATORS: readonly Role[] = ["admin", "deployer"];

/**
 * A status report's cause names who set it: `operator` only from an admin or a deployer (or the
 * registry's own account, or an open registry); a service reports its own status, as `reported`.
 */
export function assertMaySetStatusAs(p: Principal, by: "instance" | "operator" | undefined): void {
  if (by !== "operator" || p.kind !== "member" || OPERATORS.includes(p.role)) return;
  throw forbidden(`${who(p)} reports its instances' own status (cause reported); by: "operator" is for ${OPERATORS.join(" and ")} accounts: leave by out`);
}
