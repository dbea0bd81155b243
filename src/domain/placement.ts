/**
 * Placement: which online nodes can take a workload with these requirements, best
 * first. Pure: the nodes come in with their last reported usage.
 */
import { byId } from "../contract/ids.ts";
import type { Gpu, Node, SelectNodesRequest } from "../contract/schemas.ts";

/** A GPU that does not report a figure does not meet a limit on it. */
const freeMemoryMiB = (g: Gpu) => (g.memoryTotal ?? 0) - (g.memoryUsage ?? Infinity);

function fittingGpus(node: Node, req: SelectNodesRequest): Gpu[] {
  return (node.gpus ?? []).filter(
    (g) =>
      (req.minGpuFreeMemoryMiB === undefined || freeMemoryMiB(g) >= req.minGpuFreeMemoryMiB) &&
      (req.maxGpuUtilization === undefined || (g.gpuUtilization ?? Infinity) <= req.maxGpuUtilization),
  );
}

function fits(node: Node, req: SelectNodesRequest): boolean {
  if (node.status !== "Online" || !node.usage) return false;
  if (req.region !== undefined && node.region !== req.region) return false;
  if (req.availabilityZone !== undefined && node.availabilityZone !== req.availabilityZone) return false;
  const { cpu, memory, disk } = node.usage;
  if (req.minCpuFreePercent !== undefined && 100 - cpu.percent < req.minCpuFreePercent) return false;
  if (req.minMemoryFreeBytes !== undefined && memory.total - memory.used < req.minMemoryFreeBytes) return false;
  if (req.minDiskFreeBytes !== undefined && disk.total - disk.used < req.minDiskFreeBytes) return false;
  const gpuLimits = req.gpuCount !== undefined || req.minGpuFreeMemoryMiB !== undefined || req.maxGpuUtilization !== undefined;
  if (gpuLimits && fittingGpus(node, req).length < (req.gpuCount ?? 1)) return false;
  return true;
}

/** Memory left after the workload: the scarce resource best fit packs on. */
const spareMemory = (node: Node, req: SelectNodesRequest) =>
  (node.usage?.memory.total ?? 0) - (node.usage?.memory.used ?? 0) - (req.minMemoryFreeBytes ?? 0);
const spareCpuPercent = (node: Node) => 100 - (node.usage?.cpu.percent ?? 100);

/**
 * `bestFit` (default) puts first the node that keeps the least memory spare after the
 * workload, so big nodes stay free for big workloads; `leastLoaded` the one with the most
 * spare memory. CPU, then id, break ties.
 */
export function selectNodes(nodes: Iterable<Node>, req: SelectNodesRequest): Node[] {
  const direction = req.strategy === "leastLoaded" ? -1 : 1;
  return [...nodes]
    .filter((n) => fits(n, req))
    .sort(
      (a, b) =>
        direction * (spareMemory(a, req) - spareMemory(b, req)) ||
        direction * (spareCpuPercent(a) - spareCpuPercent(b)) ||
        byId(a, b),
    );
}
