/**
 * NVIDIA GPUs through nvidia-smi. The query and its parsing are apart so that parsing
 * is tested on captured output; a machine without nvidia-smi has no `gpus`.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Gpu } from "../contract/schemas.ts";

const run = promisify(execFile);

export const GPU_QUERY_FIELDS = [
  "index",
  "name",
  "pci.bus_id",
  "temperature.gpu",
  "pstate",
  "power.draw",
  "power.limit",
  "memory.used",
  "memory.total",
  "utilization.gpu",
  "compute_mode",
] as const;

const number = (s: string) => {
  const n = Number(s);
  return Number.isFinite(n) ? n : 0; // nvidia-smi says "[N/A]" for what a GPU does not report
};

export type ParsedGpus = { gpus: Gpu[]; malformed: string[] };

/** Parses `--format=csv,noheader,nounits` output; blank lines are skipped, malformed rows reported. */
export function parseNvidiaSmi(csv: string, nodeUrl: string, cudaVersion: string): ParsedGpus {
  const gpus: Gpu[] = [];
  const malformed: string[] = [];
  for (const line of csv.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const cells = line.split(",").map((c) => c.trim());
    const index = Number(cells[0]);
    if (cells.length !== GPU_QUERY_FIELDS.length || !Number.isInteger(index)) {
      malformed.push(line);
      continue;
    }
    const [, name, busId, temperature, pstate, powerDraw, powerLimit, memUsed, memTotal, util, computeMode] = cells;
    gpus.push({
      id: `${nodeUrl}:${index}`,
      intraNodeId: index,
      name: name!,
      busId: busId!,
      temperature: number(temperature!),
      performanceState: pstate!,
      powerUsage: number(powerDraw!),
      powerCap: number(powerLimit!),
      memoryUsage: number(memUsed!),
      memoryTotal: number(memTotal!),
      gpuUtilization: number(util!),
      computeMode: computeMode!,
      cudaVersion,
    });
  }
  return { gpus, malformed };
}

/** Reads the CUDA version from nvidia-smi's banner ("CUDA Version: 12.2"). */
export function parseCudaVersion(banner: string): string {
  return /CUDA Version:\s*([\d.]+)/.exec(banner)?.[1] ?? "";
}

export type GpuProbe = { sample(): Promise<ParsedGpus | undefined> };

/** Undefined samples when nvidia-smi is not installed; the CUDA version is read once. */
export function nvidiaSmiProbe(nodeUrl: string, command = "nvidia-smi"): GpuProbe {
  let cudaVersion: Promise<string | undefined> | undefined;
  const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";
  return {
    async sample() {
      cudaVersion ??= run(command, [], { timeout: 5000 }).then(
        (r) => parseCudaVersion(r.stdout),
        (err) => (missing(err) ? undefined : ""),
      );
      const cuda = await cudaVersion;
      if (cuda === undefined) return undefined;
      const { stdout } = await run(command, [`--query-gpu=${GPU_QUERY_FIELDS.join(",")}`, "--format=csv,noheader,nounits"], { timeout: 5000 });
      return parseNvidiaSmi(stdout, nodeUrl, cuda);
    },
  };
}
