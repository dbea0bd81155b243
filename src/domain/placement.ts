/**
 * Placement: which online nodes can take a workload with these requirements, best first,
 * and for the others which requirement each fails. Pure: the nodes come in with their last
 * reported usage, a definition with its requirements.
 */
import { byId } from "../contract/ids.ts";
import type { NodeRefusal } from "../contract/api.ts";
import type { Gpu, Node, Requirements, SelectNodesRequest } from "../contract/schemas.ts";

type Refusal = NodeRefusal["failed"][number];
export type Placement = { nodes: Node[]; refused: NodeRefusal[] };

/**
 * A definition's requirements as node limits, under the limits the request gives itself
 * (those win): seed 004's CpuReq and MemoryReq become free cores and free memory.
 */
export function placementRequest(requirements: Requirements | undefined, explicit: SelectNodesRequest): SelectNodesRequest {
  const r = requirements ?? {};
  const fromDefinition: SelectNodesRequest = {
    ...(r.cpuCores !== undefined ? { minCpuFreeCores: r.cpuCores } : {}),
    ...(r.memoryBytes !== undefined ? { minMemoryFreeBytes: r.memoryBytes } : {}),
    ...(r.diskBytes !== undefined ? { minDiskFreeBytes: r.diskBytes } : {}),
    ...(r.gpuCount !== undefined ? { gpuCount: r.gpuCount } : {}),
    ...(r.gpuMemoryMiB !== undefined ? { minGpuFreeMemoryMiB: r.gpuMemoryMiB } : {}),
  };
  return { ...fromDefinition, ...Object.fromEntries(Object.entries(explicit).filter(([, v]) => v !== undefined)) };
}

/** A GPU that does not report a figure does not meet a limit on it. */
const freeMemoryMiB = (g: Gpu) => (g.memoryTotal ?? 0) - (g.memoryUsage ?? Infinity);

function fittingGpus(node: Node, req: SelectNodesRequest): Gpu[] {
  return (node.gpus ?? []).filter(
    (g) =>
      (req.minGpuFreeMemoryMiB === undefined || freeMemoryMiB(g) >= req.minGpuFreeMemoryMiB) &&
      (req.maxGpuUtilization === undefined || (g.gpuUtilization ?? Infinity) <= req.maxGpuUtilization),
  );
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Every requirement the node fails; none when it fits. */
export function refusals(node: Node, req: SelectNodesRequest): Refusal[] {
  if (node.status !== "Online") return [{ requirement: "status", needs: "Online", has: node.status }];
  if (!node.usage) return [{ requirement: "usage", needs: "a reported usage", has: null }];
  const failed: Refusal[] = [];
  const check = (requirement: keyof SelectNodesRequest, needs: number | string | undefined, has: number | string | undefined, ok: boolean) => {
    if (needs !== undefined && !ok) failed.push({ requirement, needs, has: has ?? null });
  };
  const { cpu, memory, disk } = node.usage;
  check("region", req.region, node.region, node.region === req.region);
  check("availabilityZone", req.availabilityZone, node.availabilityZone, node.availabilityZone === req.availabilityZone);
  check("minCpuFreePercent", req.minCpuFreePercent, round(100 - cpu.percent), 100 - cpu.percent >= (req.minCpuFreePercent ?? 0));
  check("minCpuFreeCores", req.minCpuFreeCores, round(cpu.total - cpu.used), cpu.total - cpu.used >= (req.minCpuFreeCores ?? 0));
  check("minMemoryFreeBytes", req.minMemoryFreeBytes, memory.total - memory.used, memory.total - memory.used >= (req.minMemoryFreeBytes ?? 0));
  check("minDiskFreeBytes", req.minDiskFreeBytes, disk.total - disk.used, disk.total - disk.used >= (req.minDiskFreeBytes ?? 0));
  const gpuLimits = req.gpuCount !== undefined || req.minGpuFreeMemoryMiB !== undefined || req.maxGpuUtilization !== undefined;
  if (gpuLimits) {
    const needs = req.gpuCount ?? 1;
    const fitting = fittingGpus(node, req).length;
    if (fitting < needs) failed.push({ requirement: "gpuCount", needs, has: fitting });
  }
  return failed;
}

/** Memory left after the workload: the scarce resource best fit packs on. */
const spareMemory = (node: Node, req: SelectNodesRequest) =>
  (node.usage?.memory.total ?? 0) - (node.usage?.memory.used ?? 0) - (req.minMemoryFreeBytes ?? 0);
const spareCpuPercent = (node: Node) => 100 - (node.usage?.cpu.percent ?? 100);

/**
 * `bestFit` (default) puts first the node that keeps the least memory spare after the
 * workload, so big nodes stay free for big workloads; `leastLoaded` the one with the most
 * spare memory. CPU, then id, break ties. The refused are in id order.
 */
export function placeOn(nodes: Iterable<Node>, req: SelectNodesRequest): Placement {
  const direction = req.strategy === "leastLoaded" ? -1 : 1;
  const fitting: Node[] = [];
  const refused: Placement["refused"] = [];
  for (const node of nodes) {
    const failed = refusals(node, req);
    if (failed.length === 0) fitting.push(node);
    else refused.push({ node: node.id, failed });
  }
  fitting.sort(
    (a, b) =>
      direction * (spareMemory(a, req) - spareMemory(b, req)) ||
      direction * (spareCpuPercent(a) - spareCpuPercent(b)) ||
      byId(a, b),
  );
  refused.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return { nodes: fitting, refused };
}
