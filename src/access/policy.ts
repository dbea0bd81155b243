/**
 * The registry's policy: which role each NATS account has, and for a service its slug and
 * the slugs it may read. Identity is NATS's (accounts and users live in the server's
 * configuration); the policy only says what they may do. REGISTRY_POLICY names the file;
 * without one every caller may do everything, as on a loopback development server.
 */
import { readFile } from "node:fs/promises";
import Type from "typebox";
import type { RequestContext } from "../contract/api.ts";
import { SLUG_PATTERN } from "../contract/ids.ts";
import { validator } from "../contract/validate.ts";
import { ROLES, type Principal } from "../domain/access.ts";

const Slug = Type.String({ pattern: SLUG_PATTERN });
const AccountPolicy = Type.Object(
  {
    role: Type.Enum([...ROLES]),
    slug: Type.Optional(Slug),
    reads: Type.Optional(Type.Array(Slug, { description: "services: the slugs whose instances it may read besides its own" })),
  },
  { additionalProperties: false },
);
export const Policy = Type.Object({ accounts: Type.Record(Type.String({ minLength: 1 }), AccountPolicy) }, { additionalProperties: false });
export type Policy = Type.Static<typeof Policy>;

const validPolicy = validator(Policy, "policy", (policy) =>
  Object.entries(policy.accounts)
    .filter(([, a]) => a.role === "service" && a.slug === undefined)
    .map(([account]) => ({ path: `/accounts/${account}/slug`, message: "is required for a service" })),
);

/** Reads and checks the policy file; the error names the file and what is wrong. */
export async function loadPolicy(file: string): Promise<Policy> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`REGISTRY_POLICY ${file} cannot be read as JSON (${(err as Error).message})`, { cause: err });
  }
  try {
    return validPolicy(parsed);
  } catch (err) {
    throw new Error(`REGISTRY_POLICY ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Who is asking, by the policy: no policy, everything is open; no caller, the registry's own account. */
export function principalOf(policy: Policy | undefined, ctx: RequestContext): Principal {
  if (!policy) return { kind: "open" };
  if (!ctx.caller) return { kind: "registry" };
  const entry = policy.accounts[ctx.caller.account];
  if (!entry) return { kind: "stranger", account: ctx.caller.account };
  return { kind: "member", account: ctx.caller.account, role: entry.role, ...(entry.slug ? { slug: entry.slug } : {}), reads: entry.reads ?? [] };
}
