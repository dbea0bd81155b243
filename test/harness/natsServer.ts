/**
 * Starts a real nats-server for a test, the way nats.js's own tests do: a free port
 * (-p -1), JetStream in a temporary store, loopback only; the port is read from the
 * ports file under a deadline, and the server is stopped by PID and its directory removed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type NatsServer = { url: string; port: number; dir: string; stop(): Promise<void> };

const START_TIMEOUT_MS = 10_000;

export async function startNatsServer(extraArgs: string[] = []): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "registry-nats-"));
  const args = ["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd", join(dir, "store"), "--ports_file_dir", dir, ...extraArgs];
  const child: ChildProcess = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.once("error", () => undefined);

  const deadline = Date.now() + START_TIMEOUT_MS;
  let url: string | undefined;
  while (!url) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats-server exited early (${child.exitCode ?? child.signalCode}): ${stderr.trim() || "is it installed? (apt-get install nats-server)"}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not write its ports file within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`);
    }
    const file = (await readdir(dir)).find((f) => f.endsWith(".ports"));
    if (file) {
      try {
        const ports = JSON.parse(await readFile(join(dir, file), "utf8")) as { nats: string[] };
        url = ports.nats[0];
      } catch {
        // the file is being written; read it again
      }
    }
    if (!url) await new Promise((r) => setTimeout(r, 10));
  }
  return {
    url,
    port: Number(new URL(url).port),
    dir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
