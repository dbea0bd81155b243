/**
 * Starts a real nats-server for a test, the way nats.js's own tests do: a free port
 * (-p -1), JetStream in a temporary store, loopback only; the port is read from the
 * ports file under a deadline, and the server is stopped by PID and its directory removed.
 * Fault tests kill it (SIGKILL) or stop it and start it again on the same port and store.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type NatsServer = {
  url: string;
  /** The HTTP monitoring endpoint (`/varz` counts messages in and out). */
  monitorUrl: string;
  port: number;
  dir: string;
  pid(): number | undefined;
  /** SIGKILL by PID: no flush, no goodbye to clients. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and JetStream store (after kill or halt). */
  restart(): Promise<void>;
  /** SIGTERM by PID, keeping the store for a restart. */
  halt(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
};

const START_TIMEOUT_MS = 10_000;

type Running = { child: ChildProcess; exited: Promise<unknown>; stderr: () => string };

function launch(args: string[]): Running {
  const child: ChildProcess = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.once("error", () => undefined);
  return { child, exited, stderr: () => stderr };
}

const alive = (r: Running) => r.child.exitCode === null && r.child.signalCode === null;

/** Waits for the ports file the server writes once it listens; fails when it exits first. */
async function waitForPortsFile(r: Running, dir: string): Promise<{ nats: string; monitoring: string }> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!alive(r)) {
      throw new Error(`nats-server exited early (${r.child.exitCode ?? r.child.signalCode}): ${r.stderr().trim() || "is it installed? (apt-get install nats-server)"}`);
    }
    if (Date.now() > deadline) {
      r.child.kill("SIGKILL");
      throw new Error(`nats-server did not write its ports file within ${START_TIMEOUT_MS} ms: ${r.stderr().trim()}`);
    }
    const file = (await readdir(dir)).find((f) => f.endsWith(".ports"));
    if (file) {
      try {
        const ports = JSON.parse(await readFile(join(dir, file), "utf8")) as { nats: string[]; monitoring?: string[] };
        if (ports.nats[0]) return { nats: ports.nats[0], monitoring: ports.monitoring?.[0] ?? "" };
      } catch {
        // the file is being written; read it again
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * `extraArgs` are added to the command line; a configuration (`-c`) that sets its own
 * JetStream store takes `{ ownStore: true }`, and the store flags are left out.
 */
export async function startNatsServer(extraArgs: string[] = [], opts: { ownStore?: boolean } = {}): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "registry-nats-"));
  const store = opts.ownStore ? [] : ["-js", "-sd", join(dir, "store")];
  const args = (port: string) => ["-a", "127.0.0.1", "-p", port, "-m", "-1", ...store, "--ports_file_dir", dir, ...extraArgs];
  let running = launch(args("-1"));
  const { nats: url, monitoring: monitorUrl } = await waitForPortsFile(running, dir);
  const port = Number(new URL(url).port);

  const end = async (signal: NodeJS.Signals) => {
    if (alive(running)) running.child.kill(signal);
    await running.exited;
    for (const f of await readdir(dir)) if (f.endsWith(".ports")) await rm(join(dir, f), { force: true });
  };
  return {
    url,
    monitorUrl,
    port,
    dir,
    pid: () => running.child.pid,
    kill: () => end("SIGKILL"),
    halt: () => end("SIGTERM"),
    async restart() {
      if (alive(running)) throw new Error("nats-server is still running; kill or halt it first");
      running = launch(args(String(port)));
      await waitForPortsFile(running, dir);
    },
    async stop() {
      await end("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A client connection as nats-server's monitoring shows it (`/connz`): messages sent to it, and its subscriptions. */
export type MonitoredConnection = { cid: number; name?: string; out_msgs: number; subscriptions_list?: string[] };

/** The connections named `name` (every account's), from nats-server's monitoring. */
export async function connectionsNamed(server: NatsServer, name: string): Promise<MonitoredConnection[]> {
  const connz = (await (await fetch(`${server.monitorUrl}/connz?subs=1&limit=4096`)).json()) as { connections: MonitoredConnection[] };
  return connz.connections.filter((c) => c.name === name);
}
