import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCudaVersion, parseNvidiaSmi } from "../src/agent/gpus.ts";
import { configurationWarning, resolveIdentity } from "../src/agent/identity.ts";
import { systemUsageProbe } from "../src/agent/usage.ts";

const fixture = (name: string) => readFile(new URL(`./fixtures/nvidia-smi/${name}`, import.meta.url), "utf8");

test("gpus - captured nvidia-smi output: two GPUs read, blank lines skipped, the malformed row reported", async () => {
  const { gpus, malformed } = parseNvidiaSmi(await fixture("two-gpus.csv"), "http://127.0.0.1:11337", "12.4");
  assert.equal(gpus.length, 2);
  assert.deepEqual(gpus[1], {
    id: "http://127.0.0.1:11337:1",
    intraNodeId: 1,
    name: "NVIDIA A100-SXM4-40GB",
    busId: "00000000:0F:00.0",
    temperature: 41,
    performanceState: "P2",
    powerUsage: 250.12,
    powerCap: 400,
    memoryUsage: 30720,
    memoryTotal: 40960,
    gpuUtilization: 87,
    computeMode: "Exclusive_Process",
    cudaVersion: "12.4",
  });
  assert.equal(gpus[0]?.memoryUsage, 1024, "memory in MiB as nvidia-smi reports it");
  assert.deepEqual(malformed, ["1, NVIDIA A100-SXM4-40GB, 00000000:0F:00.0, 41"]);
});

test("gpus - values a GPU does not report ([N/A]) read as 0", () => {
  const { gpus } = parseNvidiaSmi("0, Tesla T4, 00000000:01:00.0, [N/A], P8, [N/A], 70.00, 0, 15360, 0, Default", "http://127.0.0.1:1", "");
  assert.equal(gpus[0]?.temperature, 0);
  assert.equal(gpus[0]?.powerUsage, 0);
  assert.equal(gpus[0]?.powerCap, 70);
});

test("gpus - the CUDA version comes from nvidia-smi's banner", async () => {
  assert.equal(parseCudaVersion(await fixture("banner.txt")), "12.4");
  assert.equal(parseCudaVersion("no banner"), "");
});

test("identity - without OB_NODE_ID an id is generated once and kept across restarts", async () => {
  const dir = await mkdtemp(join(tmpdir(), "registry-id-"));
  try {
    const first = await resolveIdentity({ selfUrl: "http://127.0.0.1:11337", dataDir: join(dir, "data") });
    const second = await resolveIdentity({ selfUrl: "http://127.0.0.1:11337", dataDir: join(dir, "data") });
    assert.match(first.id, /^node_[0-9a-f]{10}$/);
    assert.equal(second.id, first.id);
    assert.ok(first.generatedId);
    const configured = await resolveIdentity({ nodeId: "prod-node-1", selfUrl: "http://127.0.0.1:1", region: "r", availabilityZone: "z", dataDir: dir });
    assert.deepEqual(configured, { id: "prod-node-1", url: "http://127.0.0.1:1", region: "r", availabilityZone: "z", generatedId: false });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("identity - a loopback self URL and a generated id give one warning naming both variables", () => {
  const warning = configurationWarning({ id: "node_abc", url: "http://127.0.0.1:11337", generatedId: true });
  assert.match(warning ?? "", /OB_SELF_URL is http:\/\/127.0.0.1:11337, which other nodes cannot reach/);
  assert.match(warning ?? "", /OB_NODE_ID is not set/);
  assert.equal(configurationWarning({ id: "n1", url: "http://node1.internal:11337", generatedId: false }), undefined);
});

test("usage - a sample has real cpu, memory and disk figures of this machine", async () => {
  const probe = systemUsageProbe(tmpdir());
  await probe.sample();
  const { cpu, memory, disk } = await probe.sample();
  assert.ok(cpu.total >= 1 && cpu.percent >= 0 && cpu.percent <= 100 && cpu.used <= cpu.total);
  assert.ok(memory.total > 0 && memory.used > 0 && memory.used <= memory.total);
  assert.ok(disk.total > 0 && disk.used > 0 && disk.percent > 0 && disk.percent <= 100);
  const fs = await statfs(tmpdir());
  assert.equal(disk.total, fs.blocks * fs.bsize, "the data directory's filesystem");
});
