/**
 * The registry's policy: which role each NATS account has, and for a service its slug and
 * the slugs it may read. Identity is NATS's (accounts and users live in the server's
 * configuration); the policy only says what they may do. REGISTRY_POLICY names the file;
 * without one every caller may do everything, as on a loopback development server.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import Type from "typebox";
import type { Caller, RequestContext } from "../contract/api.ts";
import type { Instance } from "../contract/schemas.ts";
import { unauthorized, type ErrorDetail } from "../contract/errors.ts";
import { ID_PATTERN, SLUG_PATTERN } from "../contract/ids.ts";
import { LIMITS, NODE_URL_PATTERN } from "../contract/limits.ts";
import { validator } from "../contract/validate.ts";
import { ROLES, idPrefixesMeet, instanceSeenBy, may, ownIdPrefix, type NodeBinding, type Principal } from "../domain/access.ts";
import { grantsOverlap, parseGrant, type AddressGrant } from "../domain/addressGrants.ts";
import { NO_BINDINGS, type NodeUrlBindings } from "../domain/node.ts";

const Slug = Type.String({ pattern: SLUG_PATTERN });
const AccountPolicy = Type.Object(
  {
    role: Type.Enum([...ROLES]),
    slug: Type.Optional(Slug),
    reads: Type.Optional(Type.Array(Slug, { description: "services: the slugs whose instances it may read besides its own" })),
    addresses: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
        maxItems: 1000,
        description: "services: where its instances may be: host names, IP addresses or CIDR blocks, each with an optional :port or :port-range (10.20.0.0/24, order.internal:8080, 127.0.0.1:9000-9499, [fd00::/64]:443)",
      }),
    ),
    nodes: Type.Optional(
      Type.Record(
        Type.String({ minLength: 1 }),
        Type.Object(
          {
            node: Type.String({ pattern: ID_PATTERN, description: "the node the user heartbeats as (its permission to publish registry.heartbeat.<node>)" }),
            url: Type.String({ maxLength: LIMITS.urlLength, pattern: NODE_URL_PATTERN, description: "the node's URL (its agent's OB_SELF_URL): no other node may hold it, and the node holds no other" }),
          },
          { additionalProperties: false },
        ),
        { description: "agents: the node each NATS user of the account heartbeats as, and its URL; it reports checks on the instances naming that URL only" },
      ),
    ),
  },
  { additionalProperties: false },
);
type AccountPolicy = Type.Static<typeof AccountPolicy>;
const HttpToken = Type.Object(
  {
    account: Type.String({ minLength: 1, description: "the NATS account whose role the token's bearer has" }),
    name: Type.String({ minLength: 1, maxLength: 128, description: "who holds it, for the history's by" }),
    user: Type.Optional(
      Type.String({ minLength: 1, description: "a token of an agent account: the agent user it acts as (a key of the account's nodes), and so the node it reports for" }),
    ),
  },
  { additionalProperties: false },
);
export const Policy = Type.Object(
  {
    accounts: Type.Record(Type.String({ minLength: 1 }), AccountPolicy),
    httpTokens: Type.Optional(
      Type.Record(Type.String({ pattern: "^[0-9a-f]{64}$" }), HttpToken, {
        description: "HTTP bearer tokens by their SHA-256 (hex): each stands for a NATS account, with that account's role",
      }),
    ),
  },
  { additionalProperties: false },
);
export type Policy = Type.Static<typeof Policy>;

/**
 * What makes services' claims meet: an address grant that does not read, two services granted
 * one address, or two slugs whose own ids meet. Any of these would let one squat the other.
 */
function ownershipProblems(accounts: Policy["accounts"]): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const services = Object.entries(accounts).filter(([, a]) => a.role === "service" && a.slug !== undefined);
  const grants: { account: string; slug: string; grant: AddressGrant }[] = [];
  for (const [account, a] of services) {
    (a.addresses ?? []).forEach((text, i) => {
      const grant = parseGrant(text);
      if (typeof grant === "string") problems.push({ path: `/accounts/${account}/addresses/${i}`, message: `${JSON.stringify(text)}: ${grant}` });
      else grants.push({ account, slug: a.slug!, grant });
    });
  }
  grants.forEach((a, i) => {
    const clash = grants.slice(0, i).find((b) => b.slug !== a.slug && grantsOverlap(a.grant, b.grant));
    if (clash) {
      problems.push({ path: `/accounts/${a.account}/addresses`, message: `${a.grant.text} overlaps ${clash.grant.text} of ${clash.slug} (account ${clash.account}): grants of different services must not share an address` });
    }
  });
  services.forEach(([account, a], i) => {
    const clash = services.slice(0, i).find(([, b]) => b.slug !== a.slug && idPrefixesMeet(a.slug!, b.slug!));
    if (clash) {
      problems.push({ path: `/accounts/${account}/slug`, message: `${a.slug} and ${clash[1].slug} (account ${clash[0]}) would share ids: a service's ids start with ${ownIdPrefix(a.slug!)}` });
    }
  });
  return problems;
}

/** The node an agent account's user is bound to (own keys only: a user named "constructor" is no one's). */
function nodeOf(account: AccountPolicy | undefined, user: string | undefined): NodeBinding | undefined {
  const binding = account?.nodes !== undefined && user !== undefined && Object.hasOwn(account.nodes, user) ? account.nodes[user] : undefined;
  return binding && { id: binding.node, url: binding.url };
}

/** Every user-to-node binding of the policy's agent accounts, with where it is written. */
function nodeBindings(accounts: Policy["accounts"]): { path: string; node: string; url: string }[] {
  return Object.entries(accounts).flatMap(([account, a]) => Object.entries(a.nodes ?? {}).map(([user, b]) => ({ path: `/accounts/${account}/nodes/${user}`, ...b })));
}

/** Bindings that disagree: one node at two URLs, or one URL given to two nodes. */
function bindingProblems(accounts: Policy["accounts"]): ErrorDetail[] {
  const all = nodeBindings(accounts);
  return all.flatMap((b, i) => {
    const clash = all.slice(0, i).find((o) => (o.node === b.node) !== (o.url === b.url));
    if (!clash) return [];
    const message = clash.node === b.node ? `binds node ${b.node} to ${b.url}, but ${clash.path} to ${clash.url}: a node has one URL` : `binds ${b.url} to node ${b.node}, but ${clash.path} to node ${clash.node}: a URL is one node's`;
    return [{ path: b.path, message }];
  });
}

const urlBindingsOf = new WeakMap<Policy, NodeUrlBindings>();
/** Which URL the policy binds each agent's node to, and which node each bound URL is (kept per policy: read for every heartbeat). */
export function nodeUrlBindings(policy: Policy | undefined): NodeUrlBindings {
  if (!policy) return NO_BINDINGS;
  let bindings = urlBindingsOf.get(policy);
  if (!bindings) {
    const all = nodeBindings(policy.accounts);
    const urls = new Map(all.map((b) => [b.node, b.url]));
    const nodes = new Map(all.map((b) => [b.url, b.node]));
    bindings = { urlOf: (node) => urls.get(node), nodeAt: (url) => nodes.get(url) };
    urlBindingsOf.set(policy, bindings);
  }
  return bindings;
}

/**
 * A policy written before nodes were bound to URLs binds a user to a bare node id: say what to
 * write instead (without its URL another agent could take the node's URL first).
 */
function bareNodeBindings(parsed: unknown): string[] {
  const accounts = (parsed as { accounts?: unknown } | null)?.accounts;
  if (typeof accounts !== "object" || accounts === null) return [];
  return Object.entries(accounts).flatMap(([account, a]) =>
    Object.entries(((a as { nodes?: unknown } | null)?.nodes as Record<string, unknown> | undefined) ?? {})
      .filter(([, node]) => typeof node === "string")
      .map(([user, node]) => `/accounts/${account}/nodes/${user} binds node ${String(node)} but not its URL: write {"node": ${JSON.stringify(node)}, "url": "<the agent's OB_SELF_URL>"}, so that no other agent can take that URL`),
  );
}

const validPolicy = validator(Policy, "policy", (policy) => [
  ...Object.entries(policy.accounts)
    .filter(([, a]) => a.role === "service" && a.slug === undefined)
    .map(([account]) => ({ path: `/accounts/${account}/slug`, message: "is required for a service" })),
  ...ownershipProblems(policy.accounts),
  ...bindingProblems(policy.accounts),
  ...Object.entries(policy.httpTokens ?? {})
    .filter(([, t]) => !(t.account in policy.accounts))
    .map(([hash, t]) => ({ path: `/httpTokens/${hash}/account`, message: `names account ${t.account}, which has no entry in accounts` })),
  ...Object.entries(policy.accounts)
    .filter(([, a]) => a.nodes !== undefined && a.role !== "agent")
    .map(([account]) => ({ path: `/accounts/${account}/nodes`, message: "binds users to nodes, which only an agent account has" })),
  ...Object.entries(policy.httpTokens ?? {})
    .filter(([, t]) => t.user !== undefined && nodeOf(policy.accounts[t.account], t.user) === undefined)
    .map(([hash, t]) => ({ path: `/httpTokens/${hash}/user`, message: `names user ${t.user}, which accounts.${t.account}.nodes does not bind to a node` })),
]);

/** Reads and checks the policy file; the error names the file and what is wrong. */
export async function loadPolicy(file: string): Promise<Policy> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`REGISTRY_POLICY ${file} cannot be read as JSON (${(err as Error).message})`, { cause: err });
  }
  const bare = typeof parsed === "object" ? bareNodeBindings(parsed) : [];
  if (bare.length > 0) throw new Error(`REGISTRY_POLICY ${file}: ${bare.join("; ")}`);
  try {
    return validPolicy(parsed);
  } catch (err) {
    throw new Error(`REGISTRY_POLICY ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** What in a policy that loads is likely a mistake, to be logged: a service granted no addresses can register nothing. */
export function policyWarnings(policy: Policy): string[] {
  return Object.entries(policy.accounts)
    .filter(([, a]) => a.role === "service" && (a.addresses ?? []).length === 0)
    .map(([account, a]) => `account ${account} (service of ${a.slug ?? "no slug"}) is granted no addresses, so it can register no instance; list where its instances are in its "addresses"`);
}

/** The SHA-256 (hex) under which the policy keeps an HTTP bearer token. */
export const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

/**
 * The caller an HTTP request's `Authorization: Bearer <token>` stands for: the account the
 * policy gives the token, named by the token's holder. A 401 without a token the policy knows.
 */
export function callerOfBearer(policy: Policy, authorization: string | undefined): Caller {
  const token = /^Bearer ([\x21-\x7e]+)$/.exec(authorization ?? "")?.[1];
  if (!token) throw unauthorized("send Authorization: Bearer <token>; an administrator issues one with registry auth add-token --account ACCOUNT --name NAME");
  const entry = policy.httpTokens?.[tokenHash(token)];
  if (!entry) throw unauthorized("the bearer token is not one the registry's policy knows; ask for a token issued with registry auth add-token");
  return { account: entry.account, ...(entry.user !== undefined ? { user: entry.user } : {}), name: `http ${entry.name}` };
}

/** Who is asking, by the policy: no policy, everything is open; no caller, the registry's own account. */
export function principalOf(policy: Policy | undefined, ctx: RequestContext): Principal {
  if (!policy) return { kind: "open" };
  if (!ctx.caller) return { kind: "registry" };
  const entry = policy.accounts[ctx.caller.account];
  if (!entry) return { kind: "stranger", account: ctx.caller.account };
  const node = nodeOf(entry, ctx.caller.user);
  return {
    kind: "member",
    account: ctx.caller.account,
    role: entry.role,
    ...(entry.slug ? { slug: entry.slug } : {}),
    reads: entry.reads ?? [],
    ...(entry.addresses ? { addresses: entry.addresses } : {}),
    ...(node ? { node } : {}),
  };
}

/** A change on the live feed, as far as who may see it matters. */
type WatchedChange = { kind: "instance" | "node" | "definition" | "appended"; slug?: string | undefined; instance?: Instance | null };
/** Changes as a caller who may not see what checks saw gets them, one copy per change whoever watches (the face sends each copy's frame once). */
const outcomeOnlyCopies = new WeakMap<object, object>();

/**
 * What a watcher sees of the live feed: each kind of change only where its role may view it
 * (undefined: not at all), and an instance as that role reads it (a service: without what checks saw).
 */
export function watchView(policy: Policy | undefined, caller: Caller | undefined): <C extends WatchedChange>(change: C) => C | undefined {
  const p = principalOf(policy, caller ? { caller } : {});
  const permission = { instance: "instance:view", node: "node:view", definition: "definition:view", appended: "audit:view" } as const;
  return (change) => {
    if (!may(p, permission[change.kind], change.kind === "instance" ? change.slug : undefined)) return undefined;
    if (!change.instance) return change;
    const seen = instanceSeenBy(p, change.instance);
    if (seen === change.instance) return change;
    let copy = outcomeOnlyCopies.get(change) as typeof change | undefined;
    if (!copy) outcomeOnlyCopies.set(change, (copy = { ...change, instance: seen }));
    return copy;
  };
}

/** What the NATS server says of the registry's connection (src/nats/serverAccount.ts). */
export type ServerAccounts = { authRequired: boolean; account?: string; unknownBecause?: string };

/**
 * Why a policy could not be enforced on this server, or undefined when it can. The policy
 * rests on nats-server telling the registry who calls (Nats-Request-Info, set only on requests
 * imported from another account): on a server that lets anyone in, or with the registry in the
 * global account every user shares, callers reach it unidentified, as the registry itself.
 */
export function unenforceablePolicy(server: ServerAccounts): string | undefined {
  const why = !server.authRequired
    ? "the NATS server requires no authentication, so anyone reaches the registry from inside its own account, unidentified"
    : server.account === "$G"
      ? "the registry's NATS user is in the server's global account ($G), which every user without an account shares, so callers reach the registry unidentified"
      : server.account === undefined
        ? `the registry cannot tell which NATS account it is in (${server.unknownBecause ?? "no answer"})`
        : undefined;
  if (why === undefined) return undefined;
  return (
    `REGISTRY_POLICY is set but cannot be enforced: ${why}. ` +
    "Run nats-server with accounts (nats-server -c secure/nats.conf, docs/API.md \"Security\"; if 4222 is taken, stop the server there or set listen and NATS_URL to another port) " +
    "and connect as the registry's own user (NATS_USER and NATS_PASSWORD, NATS_NKEY or NATS_CREDS); or unset REGISTRY_POLICY for an open development registry"
  );
}
