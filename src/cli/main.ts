/**
 * The `registry` command's client side: definitions, instances, nodes, watch, top.
 * (`registry serve|agent|rebuild` run src/main.ts instead; bin/registry.js dispatches.)
 */
import { ConfigError } from "../config.ts";
import { RegistryError } from "../contract/errors.ts";
import { UsageError } from "./args.ts";
import { CliContext, type Out } from "./context.ts";
import { definitionsCommand } from "./definitions.ts";
import { instancesCommand } from "./instances.ts";
import { nodesCommand } from "./nodes.ts";
import { topCommand } from "./top.ts";
import { watchCommand } from "./watch.ts";
import { authCommand } from "./auth.ts";
import { historyCommand } from "./history.ts";

export const HELP = `registry <command> ...

  definitions | definition | def   save FILE | list | get ID | remove ID
  instances | instance | i         register ... | list [filters] | get ID | status ID STATUS | remove ID
  nodes | node | n                 list | get ID-or-URL | self | remove ID-or-URL | select [requirements]
  watch [definitions|instances|nodes]   print changes as they happen
  history ENTITY ID | --since 1h   an entity's events, or every change since then (the audit log)
  auth add-service SLUG            create a service's credentials; print its server and policy blocks
  auth add-token --account A --name N   issue an HTTP bearer token with account A's role
  top                              live dashboard of nodes and instance health
  serve                            run a registry process (what make run starts)
  agent                            run only the node agent of this machine
  rebuild                          rebuild the KV buckets in place from the events

Every command takes --help, and --json to print the JSON the NATS API returns.
Environment: NATS_URL (default nats://127.0.0.1:4222), NATS_CREDS, NATS_NKEY, NATS_USER/NATS_PASSWORD, REGISTRY_PREFIX.
Exit codes: 0 done; 1 the registry refused the request (400, 403, 404, 409, 413);
2 bad usage or a bad file; 3 NATS or the registry cannot be reached; 4 the registry failed.
`;

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, failed: 4 } as const;

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError) return EXIT.usage;
  if (err instanceof RegistryError) return err.code === 503 ? EXIT.unreachable : err.code >= 500 ? EXIT.failed : EXIT.refused;
  return EXIT.failed;
}

const NOUNS: Record<string, string> = {
  definitions: "definitions", definition: "definitions", def: "definitions", defs: "definitions",
  instances: "instances", instance: "instances", i: "instances",
  nodes: "nodes", node: "nodes", n: "nodes",
  watch: "watch", top: "top", auth: "auth", history: "history", help: "help",
};

export async function runCli(argv: string[], out: Out, err: Out, stopped: Promise<void>): Promise<number> {
  const [first, ...rest] = argv;
  const noun = first === undefined || first === "--help" || first === "-h" ? "help" : NOUNS[first];
  const json = argv.includes("--json");
  let ctx: CliContext | undefined;
  try {
    if (noun === undefined) throw new UsageError(`unknown command "${first}"; see registry --help`);
    if (noun === "help") {
      out.write(HELP);
      return EXIT.ok;
    }
    ctx = new CliContext(out, json);
    const args = rest.filter((a) => a !== "--json");
    if (noun === "definitions") await definitionsCommand(args, ctx);
    else if (noun === "instances") await instancesCommand(args, ctx);
    else if (noun === "nodes") await nodesCommand(args, ctx);
    else if (noun === "watch") await watchCommand(args, ctx, stopped);
    else if (noun === "auth") await authCommand(args, ctx);
    else if (noun === "history") await historyCommand(args, ctx);
    else await topCommand(args, ctx, stopped);
    return EXIT.ok;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    err.write(`registry: ${message}\n`);
    if (json && e instanceof RegistryError) out.write(`${JSON.stringify(e.toJSON())}\n`);
    return exitCodeOf(e);
  } finally {
    await ctx?.close().catch(() => undefined);
  }
}
