/**
 * The peer: PhysarumSM's registry keeps each service's info as JSON under its name in
 * etcd. Debian's etcd-server is started here on loopback ports, in a temporary directory,
 * with its defaults (it syncs its log to disk on every write; JetStream file storage does
 * not by default, so the peer pays for durability the registry does not).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { throughput, type Throughput } from "./lib.ts";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** PhysarumSM's service info: a name, an image, and its CPU/memory/network requirements. */
const serviceInfo = (i: number) =>
  JSON.stringify({
    name: `bench-svc-${i}`,
    image: `registry.local/bench-svc:${i % 100}`,
    address: `127.0.${Math.floor(i / 50000) % 250}.${1 + (i % 250)}:${10000 + (i % 50000)}`,
    resources: { cpu: 0.5, memory: 256, network: 10 },
    tags: ["bench"],
  });

/** Put throughput of `n` new services, after `preload` services are already stored. */
export async function benchEtcd(n: number, inFlight: number, preload = 0): Promise<Throughput> {
  const dir = await mkdtemp(join(tmpdir(), "registry-etcd-"));
  const [client, peer] = [await freePort(), await freePort()];
  const etcd = spawn(
    "etcd",
    [
      "--name", "bench", "--data-dir", join(dir, "data"),
      "--listen-client-urls", `http://127.0.0.1:${client}`, "--advertise-client-urls", `http://127.0.0.1:${client}`,
      "--listen-peer-urls", `http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
      "--initial-cluster", `bench=http://127.0.0.1:${peer}`, "--log-level", "error",
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise((resolve) => etcd.once("exit", resolve));
  const kv = new Etcd3({ hosts: `http://127.0.0.1:${client}` });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await kv.put("ready").value("1");
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd did not start on 127.0.0.1:${client}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await throughput(preload, inFlight, (i) => kv.put(`services/bench-svc-${n + i}`).value(serviceInfo(n + i)).exec());
    return await throughput(n, inFlight, (i) => kv.put(`services/bench-svc-${i}`).value(serviceInfo(i)).exec());
  } finally {
    kv.close();
    etcd.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}
