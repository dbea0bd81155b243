/**
 * A CPU profile of one registry process under the registration load of `make bench` (64 in
 * flight), with the server messages each registration costs (nats-server's /varz around
 * the batch). Prints where the registry's CPU goes, by function (self time) and by module
 * (inclusive), and leaves the .cpuprofile to open in Chrome's DevTools.
 *
 *   node --import tsx bench/profile.ts [registrations]      (default 20000)
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "../src/client/client.ts";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { throughput } from "./lib.ts";

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[] };

const where = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}`.trim();

/** Share of samples by function (self) and, for the functions on each sample's stack, inclusive. */
export function summarize(profile: Profile, top = 20): { self: [string, number][]; inclusive: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    self.set(where(node), (self.get(where(node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const w = where(byId.get(at)!);
      if (seen.has(w)) continue;
      seen.add(w);
      inclusive.set(w, (inclusive.get(w) ?? 0) + 1);
    }
  }
  const share = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, Math.round((1000 * v) / profile.samples.length) / 10] as [string, number]);
  return { self: share(self), inclusive: share(inclusive) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 20_000);
  const dir = await mkdtemp(join(tmpdir(), "registry-profile-"));
  const server = await startNatsServer();
  const registry = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir }, "serve", ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
  const nc = await connect({ servers: server.url });
  const varz = async () => (await (await fetch(`${server.monitorUrl}/varz`)).json()) as { in_msgs: number; out_msgs: number };
  try {
    const client = new RegistryClient(nc, { timeoutMs: 30_000 });
    const url = (i: number) => `http://127.0.${Math.floor(i / 50000) % 250}.${1 + (i % 250)}:${10000 + (i % 50000)}/p${i}`;
    await throughput(500, 64, (i) => client.registerInstance({ url: url(n + i), slug: "bench-profile", tags: ["bench"] }));
    const before = await varz();
    const t = await throughput(n, 64, (i) => client.registerInstance({ url: url(i), slug: "bench-profile", tags: ["bench"] }));
    const after = await varz();
    process.stdout.write(`${t.opsPerSecond} registrations/s at 64 in flight; server messages per registration: ${((after.in_msgs - before.in_msgs) / n).toFixed(2)} in, ${((after.out_msgs - before.out_msgs) / n).toFixed(2)} out\n`);
  } finally {
    await nc.close();
    await registry.stop();
    await server.stop();
  }
  const main = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile")).sort()[0]; // the main thread's; later ones are workers
  const profile = JSON.parse(await readFile(join(dir, main!), "utf8")) as Profile;
  const { self, inclusive } = summarize(profile);
  process.stdout.write(`\nself time, % of samples:\n${self.map(([k, v]) => `${v.toFixed(1).padStart(6)}%  ${k}`).join("\n")}\n`);
  process.stdout.write(`\ninclusive, % of samples:\n${inclusive.map(([k, v]) => `${v.toFixed(1).padStart(6)}%  ${k}`).join("\n")}\n`);
  process.stdout.write(`\nprofile: ${join(dir, main!)}\n`);
}
