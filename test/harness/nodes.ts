/** Heartbeats and node agents for tests. */
import type { NatsConnection } from "@nats-io/transport-node";
import { namesFor } from "../../src/contract/names.ts";
import type { Gpu, Heartbeat } from "../../src/contract/schemas.ts";
import { startNodeAgent, type NodeAgent } from "../../src/agent/agent.ts";
import { nvidiaSmiProbe } from "../../src/agent/gpus.ts";
import { systemUsageProbe } from "../../src/agent/usage.ts";
import { silentLog } from "./registry.ts";

const GiB = 1024 ** 3;

/** A test node's URL: its own, as the registry requires (one node per URL). */
export const nodeUrlOf = (id: string) => `http://127.0.0.1:11000/nodes/${id}`;

/** A heartbeat of a node with `freeMemoryGiB` of 32 GiB free, 50% CPU and half its disk used. */
export function heartbeat(id: string, opts: { freeMemoryGiB?: number; cpuPercent?: number; region?: string; gpus?: Gpu[]; at?: Date } = {}): Heartbeat {
  const free = (opts.freeMemoryGiB ?? 16) * GiB;
  const cpuPercent = opts.cpuPercent ?? 50;
  return {
    id,
    url: nodeUrlOf(id),
    ...(opts.region ? { region: opts.region } : {}),
    usage: {
      cpu: { used: (cpuPercent / 100) * 8, total: 8, percent: cpuPercent },
      memory: { used: 32 * GiB - free, total: 32 * GiB, percent: ((32 * GiB - free) / (32 * GiB)) * 100 },
      disk: { used: 50 * GiB, total: 100 * GiB, percent: 50 },
    },
    ...(opts.gpus ? { gpus: opts.gpus } : {}),
    at: (opts.at ?? new Date()).toISOString(),
  };
}

export function gpu(index: number, memoryUsage: number, gpuUtilization: number): Gpu {
  return {
    id: `http://127.0.0.1:11337:${index}`,
    intraNodeId: index,
    name: "Test GPU",
    busId: `00000000:0${index}:00.0`,
    temperature: 40,
    performanceState: "P0",
    powerUsage: 100,
    powerCap: 300,
    memoryUsage,
    memoryTotal: 16384,
    gpuUtilization,
    computeMode: "Default",
    cudaVersion: "12.4",
  };
}

export function publishHeartbeat(nc: NatsConnection, h: Heartbeat): void {
  nc.publish(namesFor("registry").heartbeatSubject(h.id), JSON.stringify(h));
}

/** A real node agent (real usage figures, nvidia-smi where there is one). */
export function agent(nc: NatsConnection, id: string, dataDir: string, intervalMs = 200): NodeAgent {
  const url = nodeUrlOf(id);
  return startNodeAgent({
    nc,
    names: namesFor("registry"),
    identity: { id, url, generatedId: false },
    usage: systemUsageProbe(dataDir),
    gpus: nvidiaSmiProbe(url),
    intervalMs,
    log: silentLog,
  });
}
