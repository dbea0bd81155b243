/** Runs the `registry` command as a user would: its own process, real output and exit code. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { until } from "./until.ts";

const bin = fileURLToPath(new URL("../../bin/registry.js", import.meta.url));

export type CliRun = { code: number; stdout: string; stderr: string };

export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A long-running command (watch, top): its output so far, and a way to stop it with Ctrl-C. */
export function startCli(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string; waitFor(text: string | RegExp, what: string): Promise<void>; interrupt(): Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    waitFor: (text, what) => until(() => (typeof text === "string" ? out.includes(text) : text.test(out)), what, 20_000).then(() => undefined),
    async interrupt() {
      child.kill("SIGINT");
      return exited;
    },
  };
}
