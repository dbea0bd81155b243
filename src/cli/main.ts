/**
 * The `registry` command: one commander declaration per command gives its help, its
 * subcommands and its strictness (an unknown option or a stray argument is exit 2). The
 * process commands (serve, agent, rebuild) are declared here too; the composition root
 * (src/main.ts) hands in what runs them, so the CLI never imports the server.
 */
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config.ts";
import { RegistryError } from "../contract/errors.ts";
import { VERSION } from "../contract/version.ts";
import { UsageError } from "./args.ts";
import { CliContext, type Cli, type Out } from "./context.ts";
import { definitionsCommand } from "./definitions.ts";
import { instancesCommand } from "./instances.ts";
import { servicesCommand } from "./services.ts";
import { nodesCommand } from "./nodes.ts";
import { topCommand } from "./top.ts";
import { watchCommand } from "./watch.ts";
import { authCommand } from "./auth.ts";
import { historyCommand } from "./history.ts";
import { healthCommand } from "./health.ts";
import { describeError } from "./hints.ts";

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, failed: 4 } as const;

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError) return EXIT.usage;
  if (err instanceof RegistryError) return err.code === 503 ? EXIT.unreachable : err.code >= 500 ? EXIT.failed : EXIT.refused;
  return EXIT.failed;
}

export type ProcessCommand = "serve" | "agent" | "rebuild";

export type CliIo = {
  out: Out;
  err: Out;
  /** Resolves at Ctrl-C or SIGTERM; called only by the commands that run until then (watch, top). */
  interrupted(): Promise<void>;
  /** Runs a registry process; it returns once the process is up (serve, agent) or done (rebuild). */
  runProcess?(command: ProcessCommand): Promise<void>;
};

const ROOT_HELP = `
Short forms: def, i and n for the nouns; ls for list, rm for remove (registry i ls --slug user-svc).
Environment: NATS_URL (default nats://127.0.0.1:4222), NATS_CREDS, NATS_NKEY, NATS_USER/NATS_PASSWORD,
REGISTRY_PREFIX; serve and agent read the rest (README, Configuration).
Exit codes: 0 done; 1 the registry refused the request (400, 403, 404, 409, 413);
2 bad usage or a bad file; 3 NATS or the registry cannot be reached; 4 the registry failed.
`;

const PROCESSES: Record<ProcessCommand, string> = {
  serve: "run one registry process until Ctrl-C or SIGTERM, then drain (what make run starts); several may share one NATS",
  agent: "run only the node agent: heartbeat this machine and run the checks of its instances",
  rebuild: "rebuild the KV buckets in place from the event stream, then exit (running registries follow on)",
};

export function buildProgram(io: CliIo, opened: CliContext[]): Command {
  const program = new Command("registry")
    .description("An event-sourced service registry over NATS: definitions, instances and nodes.")
    .version(VERSION, "-V, --version", "print the registry's version")
    .option("--json", "print the JSON the NATS API returns")
    .exitOverride()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: (text) => io.out.write(text),
      writeErr: (text) => io.err.write(text),
      outputError: (text, write) => write(`registry: ${text.replace(/^error: /, "")}`),
    })
    .addHelpText("after", ROOT_HELP);

  const cli: Cli = {
    action: (fn) => async (...received: unknown[]) => {
      const command = received.at(-1) as Command;
      const ctx = new CliContext(io.out, command.optsWithGlobals<{ json?: boolean }>().json === true, io.err);
      opened.push(ctx);
      await fn(ctx, command.args, command.opts());
    },
    interrupted: () => io.interrupted(),
  };

  definitionsCommand(program, cli);
  instancesCommand(program, cli);
  servicesCommand(program, cli);
  nodesCommand(program, cli);
  healthCommand(program, cli);
  historyCommand(program, cli);
  watchCommand(program, cli);
  topCommand(program, cli);
  authCommand(program, cli);
  for (const [name, description] of Object.entries(PROCESSES) as [ProcessCommand, string][]) {
    program
      .command(name)
      .description(description)
      .addHelpText("after", "\nConfigured by environment variables only (README, Configuration).\n")
      .action(async () => {
        if (!io.runProcess) throw new UsageError(`registry ${name} runs from the registry's own entry point (bin/registry.js)`);
        await io.runProcess(name);
      });
  }
  return program;
}

/** Runs one command line; resolves with the exit code (a process command resolves once it is up). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const opened: CliContext[] = [];
  const program = buildProgram(io, opened);
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Asked-for help is success; help shown because a command was incomplete is bad usage.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.err.write(`registry: ${describeError(e)}\n`);
    if (program.opts<{ json?: boolean }>().json && e instanceof RegistryError) io.out.write(`${JSON.stringify(e.toJSON())}\n`);
    return exitCodeOf(e);
  } finally {
    for (const ctx of opened) await ctx.close().catch(() => undefined);
  }
}
