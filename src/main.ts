import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { runCli } from "./cli/main.ts";

/**
 * The `registry` command (bin/registry.js) and `make run` (`src/main.ts`, serve by default):
 * the CLI parses every command line; the process commands come back here to run. The CLI's
 * own commands end the process with their exit code; a process command keeps it running.
 */
export async function main(argv: string[]): Promise<void> {
  let interrupted: Promise<void> | undefined;
  let ranProcess = false;
  const code = await runCli(argv, {
    out: process.stdout,
    err: process.stderr,
    interrupted: () =>
      (interrupted ??= new Promise((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      })),
    runProcess: (command) => {
      ranProcess = true;
      // Loaded only here, so that the CLI's own commands start without the server's modules.
      return import("./app/processes.ts").then((p) => p.runProcess(command));
    },
  });
  if (!ranProcess || code !== 0) process.exit(code);
}

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isEntry) await main(process.argv.length > 2 ? process.argv.slice(2) : ["serve"]);
