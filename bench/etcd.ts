/**
 * The peer: PhysarumSM's registry keeps each service's info as JSON under its name in
 * etcd. Debian's etcd-server is started here on loopback ports, in a temporary directory,
 * with its defaults (it syncs its log to disk on every write; JetStream file storage does
 * not by default, so the peer pays for durability the registry does not).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { freePort } from "../test/harness/ports.ts";
import { throughput, type Throughput } from "./lib.ts";

/** PhysarumSM's service info: a name, an image, and its CPU/memory/network requirements. */
const serviceInfo = (i: number) =>
  JSON.stringify({
    name: `bench-svc-${i}`,
    image: `registry.local/bench-svc:${i % 100}`,
    address: `127.0.${Math.floor(i / 50000) % 250}.${1 + (i % 250)}:${10000 + (i % 50000)}`,
    resources: { cpu: 0.5, memory: 256, network: 10 },
    tags: ["bench"],
  });

/** An etcd cluster of `members` on loopback ports, each in its own directory under `dir`. */
async function startEtcd(dir: string, members: number) {
  const ports = await Promise.all(Array.from({ length: members }, async () => ({ client: await freePort(), peer: await freePort() })));
  const cluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(",");
  const processes = ports.map((p, i) =>
    spawn(
      "etcd",
      [
        "--name", `m${i}`, "--data-dir", join(dir, `m${i}`),
        "--listen-client-urls", `http://127.0.0.1:${p.client}`, "--advertise-client-urls", `http://127.0.0.1:${p.client}`,
        "--listen-peer-urls", `http://127.0.0.1:${p.peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${p.peer}`,
        "--initial-cluster", cluster, "--initial-cluster-state", "new", "--log-level", "error",
      ],
      { stdio: "ignore" },
    ),
  );
  const exited = processes.map((p) => new Promise((resolve) => p.once("exit", resolve)));
  return {
    hosts: ports.map((p) => `http://127.0.0.1:${p.client}`),
    async stop() {
      for (const p of processes) p.kill("SIGTERM");
      await Promise.all(exited);
    },
  };
}

/** Put throughput of `n` new services, after `preload` services are already stored, on an etcd of `members`. */
export async function benchEtcd(n: number, inFlight: number, preload = 0, members = 1): Promise<Throughput> {
  const dir = await mkdtemp(join(tmpdir(), "registry-etcd-"));
  const etcd = await startEtcd(dir, members);
  const kv = new Etcd3({ hosts: etcd.hosts });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await kv.put("ready").value("1");
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd (${members} members) did not take a put within 20 s at ${etcd.hosts.join(", ")}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await throughput(preload, inFlight, (i) => kv.put(`services/bench-svc-${n + i}`).value(serviceInfo(n + i)).exec());
    return await throughput(n, inFlight, (i) => kv.put(`services/bench-svc-${i}`).value(serviceInfo(i)).exec());
  } finally {
    kv.close();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
