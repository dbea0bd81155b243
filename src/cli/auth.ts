/**
 * `registry auth add-service <slug>`: creates a new service's credentials with the nkeys
 * library (a user nkey whose seed is written to a file only its owner can read) and prints
 * what to add to the server's configuration and the registry's policy, and how to reload
 * both. The registry keeps no credentials: nats-server checks them, the policy grants.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { SLUG_PATTERN } from "../contract/ids.ts";
import { namesFor } from "../contract/names.ts";
import { randomBytes } from "node:crypto";
import { tokenHash } from "../access/policy.ts";
import { list, parseArgs, str, UsageError, type Parsed } from "./args.ts";
import type { CliContext } from "./context.ts";

export const AUTH_HELP = `registry auth add-service SLUG [--account NAME] [--reads SLUG]... [--dir DIR]
registry auth add-token --account ACCOUNT --name NAME

  Creates a user nkey for the service SLUG, writes its seed to DIR/SLUG.nk (default ./secrets,
  readable by you only), and prints the account block for nats-server's configuration and the
  entry for the registry's policy (REGISTRY_POLICY). --account names the account (default the
  slug in capitals, - as _); --reads grants reading another service's instances.
  The service then connects with NATS_NKEY=DIR/SLUG.nk (the CLI, the registry's client).

  add-token issues a bearer token for the HTTP face: its bearer calls with the role of the NATS
  account ACCOUNT (which must be in the policy's accounts), and the history names NAME. It prints
  the token once, and the entry for httpTokens in the policy, which keeps only its SHA-256.
`;


export async function authCommand(argv: string[], ctx: CliContext): Promise<void> {
  const [verb, ...rest] = argv;
  const p = parseArgs(rest, { values: ["account", "dir", "name"], repeatable: ["reads"] });
  if (p.flags.help || verb === undefined) return void ctx.out.write(AUTH_HELP);
  if (verb === "add-token") return addToken(p, ctx);
  if (verb !== "add-service") throw new UsageError(`unknown auth command "${verb}"; see registry auth --help`);
  const [slug, ...extra] = p.positionals;
  if (slug === undefined || extra.length > 0) throw new UsageError("give one slug: registry auth add-service SLUG");
  if (!new RegExp(SLUG_PATTERN).test(slug)) throw new UsageError(`slug "${slug}" must be 1 to 128 letters, digits, - and _`);
  const account = str(p, "account") ?? slug.toUpperCase().replaceAll("-", "_");
  const reads = list(p, "reads");
  const dir = str(p, "dir") ?? "secrets";

  const user = createUser();
  const seedFile = join(dir, `${slug}.nk`);
  await mkdir(dir, { recursive: true });
  await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  await chmod(seedFile, 0o600);
  const names = namesFor(ctx.config.prefix);
  // Exactly what the registry exports (secure/nats.conf): its request subjects, and its instances' changes.
  const services = [...["definition", "instance", "node", "health"].map((e) => `${names.prefix}.${e}.>`), `${names.prefix}.history`].map(
    (subject) => `      { service: { account: REGISTRY, subject: "${subject}" }, share: true }`,
  );
  const changes = `$KV.${names.buckets.instance}`;
  const imports = [...services, `      { stream: { account: REGISTRY, subject: "${changes}.>" } }`].join("\n");
  const watchable = ["_INBOX.>", ...[slug, ...reads].map((s) => `${changes}.${s}.>`)].map((s) => `"${s}"`).join(", ");
  const userLine = `{ nkey: ${user.getPublicKey()}, permissions: { subscribe: { allow: [${watchable}] } } }`;
  const block = `  ${account}: {\n    users: [ ${userLine} ]\n    imports: [\n${imports}\n    ]\n  }`;
  const policy = JSON.stringify({ [account]: { role: "service", slug, ...(reads.length > 0 ? { reads } : {}) } });
  ctx.print({ account, slug, publicKey: user.getPublicKey(), seedFile, serverConfig: block, policy }, () =>
    [
      `created ${slug}'s key: its seed is in ${seedFile} (keep it secret; the service connects with NATS_NKEY=${seedFile})`,
      "",
      "1. Add this account inside accounts { ... } of nats-server's configuration:",
      "",
      block,
      "",
      ...policyStep(2, "accounts", policy),
      "3. Restart nats-server with the new configuration (2.9 reloads users on SIGHUP, but a new account's",
      "   imports only take effect at a start; registries and services reconnect on their own), and send",
      "   SIGHUP to each registry process (kill -HUP <pid>) to reload its policy.",
      "",
    ].join("\n"),
  );
}

/** The step of the instructions that adds `entry` (a one-key JSON object) to `section` of the policy. */
const policyStep = (n: number, section: string, entry: string) => [`${n}. Add this entry inside "${section}" of the registry's policy (REGISTRY_POLICY):`, "", `   ${entry.slice(1, -1)}`, ""];

function addToken(p: Parsed, ctx: CliContext): void {
  const account = str(p, "account");
  const name = str(p, "name");
  if (account === undefined || name === undefined || p.positionals.length > 0) throw new UsageError("registry auth add-token --account ACCOUNT --name NAME");
  const token = `reg_${randomBytes(32).toString("base64url")}`;
  const entry = JSON.stringify({ [tokenHash(token)]: { account, name } });
  ctx.print({ account, name, token, policy: { httpTokens: JSON.parse(entry) as unknown } }, () =>
    [
      `token for ${name}, with the role of account ${account} (shown once; the registry keeps only its SHA-256):`,
      "",
      `   ${token}`,
      "",
      ...policyStep(1, "httpTokens", entry),
      "2. Send SIGHUP to each registry process (kill -HUP <pid>) to reload its policy; then",
      `   curl -H "Authorization: Bearer ${token}" http://127.0.0.1:11337/registry-svc/instances`,
      "",
    ].join("\n"),
  );
}
