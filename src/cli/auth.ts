/**
 * `registry auth add-service <slug>`: creates a new service's credentials with the nkeys
 * library (a user nkey whose seed is written to a file only its owner can read) and prints
 * what to add to the server's configuration and the registry's policy, and how to reload
 * both. The registry keeps no credentials: nats-server checks them, the policy grants.
 */
import { chmod, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { RequestError } from "@nats-io/transport-node";
import { kvSubject } from "../nats/index.ts";
import { RegistryError } from "../contract/errors.ts";
import { SLUG_PATTERN } from "../contract/ids.ts";
import { namesFor } from "../contract/names.ts";
import { randomBytes } from "node:crypto";
import { tokenHash } from "../access/policy.ts";
import { parseGrant } from "../domain/addressGrants.ts";
import type { Command } from "commander";
import { repeated, UsageError } from "./args.ts";
import type { Cli, CliContext } from "./context.ts";
import { table } from "./format.ts";

export function authCommand(program: Command, cli: Cli): void {
  const auth = program.command("auth").description("credentials: a service's NATS key, an HTTP bearer token");
  auth
    .command("add-service")
    .description("create a user nkey for the service SLUG and print the server's and the policy's entries for it")
    .argument("<slug>")
    .option("--account <name>", "its NATS account (default: the slug in capitals, - as _)")
    .option("--reads <slug>", "let it read another service's instances too (repeat for more)", repeated)
    .option("--address <grant>", "where its instances may be: a host, IP or CIDR block, with :port or :port-range if any (repeat for more)", repeated)
    .option("--dir <dir>", "where its seed is written, readable by you only", "secrets")
    .option("--force", "replace the service's existing key (the server's and the policy's entries must then be replaced too)")
    .addHelpText("after", "\nThe service then connects with NATS_NKEY=DIR/SLUG.nk (the CLI, the registry's client).\n")
    .action(cli.action<ServiceOptions>((ctx, [slug], o) => addService(ctx, slug!, o)));
  auth
    .command("add-token")
    .description("issue an HTTP bearer token that calls with the role of NATS account ACCOUNT (shown once)")
    .requiredOption("--account <account>", "the account whose role it has (one of the policy's accounts)")
    .requiredOption("--name <name>", "who holds it, as the history names them")
    .option("--user <user>", "for an agent account: the agent user it acts as, and so the node it reports checks for (a key of the account's nodes)")
    .action(cli.action<{ account: string; name: string }>((ctx, _, o) => Promise.resolve(addToken(o, ctx))));
  auth
    .command("reload")
    .description("have every registry process read its policy file again (an admin's request); prints what each said")
    .action(cli.action((ctx) => reload(ctx)));
}

async function reload(ctx: CliContext): Promise<void> {
  const client = await ctx.client();
  const processes = await client.reloadPolicy().catch(async (err: unknown) => {
    // The secure layout imports policy.reload into admin accounts only: to anyone else no registry answers it, though one runs.
    if (!(err instanceof RegistryError && err.code === 503 && err.cause instanceof RequestError && err.cause.isNoResponders())) throw err;
    const running = await client.healthStatus().then(() => true, () => false);
    if (!running) throw err;
    throw new RegistryError(403, "only an admin account may reload the policy: nats-server routes registry.policy.reload to the registry from ADMIN accounts alone, and the registry answers this connection's other requests; connect as an admin (NATS_USER and NATS_PASSWORD, NATS_NKEY or NATS_CREDS of one)", { cause: err });
  });
  ctx.print({ processes }, () =>
    table(
      ["PROCESS", "PID", "POLICY"],
      processes.map((p) => [p.process, String(p.pid), p.ok ? `reloaded: ${p.accounts ?? 0} accounts` : `NOT reloaded: ${p.error ?? "no reason given"}`]),
    ),
  );
  // Every process must have it: one that kept the old policy is a failure the operator must see in the exit code.
  const kept = processes.filter((p) => !p.ok);
  if (kept.length > 0) throw new Error(`${kept.length} of ${processes.length} registry processes kept their last policy (pid ${kept.map((p) => p.pid).join(", ")}); fix what they say and run registry auth reload again`);
}

/** A service's NATS account unless --account names one: its slug in capitals, - as _. */
const defaultAccountOf = (slug: string) => slug.toUpperCase().replaceAll("-", "_");

/** Two slugs can make one default account (billing-svc, Billing_svc): refuse the second, by the keys already in `dir`. */
async function assertAccountFree(dir: string, slug: string, account: string): Promise<void> {
  const keys = await readdir(dir).catch(() => [] as string[]);
  const other = keys.map((file) => /^(.+)\.nk$/.exec(file)?.[1]).find((s) => s !== undefined && s !== slug && defaultAccountOf(s) === account);
  if (other !== undefined) {
    throw new UsageError(`${slug} would be account ${account}, which ${other} (${join(dir, `${other}.nk`)}) is already: give ${slug} an account of its own with --account NAME`);
  }
}

type ServiceOptions = { account?: string; reads?: string[]; address?: string[]; dir: string; force?: boolean };

async function addService(ctx: CliContext, slug: string, o: ServiceOptions): Promise<void> {
  if (!new RegExp(SLUG_PATTERN).test(slug)) throw new UsageError(`slug "${slug}" must be 1 to 128 letters, digits, - and _`);
  const account = o.account ?? defaultAccountOf(slug);
  const reads = o.reads ?? [];
  const addresses = o.address ?? [];
  for (const grant of addresses) {
    const read = parseGrant(grant);
    if (typeof read === "string") throw new UsageError(`--address ${grant}: ${read}`);
  }
  const dir = o.dir;

  if (o.account === undefined) await assertAccountFree(dir, slug, account);

  const user = createUser();
  const seedFile = join(dir, `${slug}.nk`);
  await mkdir(dir, { recursive: true });
  // Exclusive unless --force: a second run must not replace a key whose public half is already in the server's configuration.
  await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600, flag: o.force ? "w" : "wx" }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
    throw new UsageError(`${seedFile} exists already: ${slug} has a key, and the server's configuration names its public key; use that file, or add --force to replace the key (then replace its entries in the server's configuration and the policy)`);
  });
  await chmod(seedFile, 0o600);
  const names = namesFor(ctx.config.prefix);
  // Exactly what the registry exports (secure/nats.conf): its request subjects, its own slug's lease renewals, and its instances' changes.
  const services = [...["definition", "instance", "service", "node", "health"].map((e) => `${names.prefix}.${e}.>`), `${names.prefix}.history`, names.leaseSubject(`${slug}.*`)].map(
    (subject) => `      { service: { account: REGISTRY, subject: "${subject}" }, share: true }`,
  );
  const changes = (key: string) => kvSubject(names.buckets.instance, key);
  const imports = [...services, `      { stream: { account: REGISTRY, subject: "${changes(">")}" } }`].join("\n");
  const watchable = ["_INBOX.>", ...[slug, ...reads].map((s) => changes(`${s}.>`))].map((s) => `"${s}"`).join(", ");
  const userLine = `{ nkey: ${user.getPublicKey()}, permissions: { subscribe: { allow: [${watchable}] } } }`;
  const block = `  ${account}: {\n    users: [ ${userLine} ]\n    imports: [\n${imports}\n    ]\n  }`;
  const policy = JSON.stringify({ [account]: { role: "service", slug, ...(reads.length > 0 ? { reads } : {}), addresses } });
  ctx.print({ account, slug, publicKey: user.getPublicKey(), seedFile, serverConfig: block, policy }, () =>
    [
      `created ${slug}'s key: its seed is in ${seedFile} (keep it secret; the service connects with NATS_NKEY=${seedFile})`,
      "",
      "1. Add this account inside accounts { ... } of nats-server's configuration:",
      "",
      block,
      "",
      ...policyStep(2, "accounts", policy),
      ...(addresses.length === 0 ? ["   It grants no addresses yet: the service may register no instance until \"addresses\" lists where they are (--address).", ""] : []),
      "3. Restart nats-server with the new configuration (2.9 reloads users on SIGHUP, but a new account's",
      "   imports only take effect at a start; registries and services reconnect on their own), then have",
      "   every registry process read the policy again: registry auth reload (as an admin).",
      "",
    ].join("\n"),
  );
}

/** The step of the instructions that adds `entry` (a one-key JSON object) to `section` of the policy. */
const policyStep = (n: number, section: string, entry: string) => [`${n}. Add this entry inside "${section}" of the registry's policy (REGISTRY_POLICY):`, "", `   ${entry.slice(1, -1)}`, ""];

type TokenOptions = { account: string; name: string; user?: string };

function addToken({ account, name, user }: TokenOptions, ctx: CliContext): void {
  const token = `reg_${randomBytes(32).toString("base64url")}`;
  const entry = JSON.stringify({ [tokenHash(token)]: { account, name, ...(user !== undefined ? { user } : {}) } });
  ctx.print({ account, name, token, policy: { httpTokens: JSON.parse(entry) as unknown } }, () =>
    [
      `token for ${name}, with the role of account ${account} (shown once; the registry keeps only its SHA-256):`,
      "",
      `   ${token}`,
      "",
      ...policyStep(1, "httpTokens", entry),
      "2. Have every registry process read the policy again: registry auth reload (as an admin); then",
      `   curl -H "Authorization: Bearer ${token}" http://127.0.0.1:11337/registry-svc/instances`,
      "",
    ].join("\n"),
  );
}
