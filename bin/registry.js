#!/usr/bin/env node
// The `registry` command: `serve`, `agent` and `rebuild` run a registry process
// (src/main.ts); every other command is the CLI (src/cli/main.ts). It runs the compiled
// dist/ (npm install and make build it).
const PROCESS_COMMANDS = new Set(["serve", "agent", "rebuild"]);
if (PROCESS_COMMANDS.has(process.argv[2] ?? "")) {
  await import("../dist/main.js");
} else {
  const { runCli } = await import("../dist/cli/main.js");
  const stopped = new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.exitCode = await runCli(process.argv.slice(2), process.stdout, process.stderr, stopped);
  process.exit();
}
