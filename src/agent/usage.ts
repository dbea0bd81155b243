/**
 * CPU and memory usage from systeminformation, the disk from statfs(2) on the data directory.
 * The core count is read once; nothing here runs synchronously, so sampling does not hold the
 * event loop (systeminformation's fsSize ran `cat /proc/mounts` with execSync each sample: about
 * 2% of a registry's time in profiles, the loop stopped meanwhile).
 */
import { statfs } from "node:fs/promises";
import si from "systeminformation";
import type { ResourceUsage } from "../contract/schemas.ts";

const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;
const share = (used: number, total: number) => (total > 0 ? round((used / total) * 100) : 0);

export type UsageProbe = { sample(): Promise<ResourceUsage> };

/** `dataDir`'s filesystem is the node's disk. */
export function systemUsageProbe(dataDir: string): UsageProbe {
  let cores: Promise<number> | undefined;
  return {
    async sample() {
      cores ??= si.cpu().then((c) => c.cores);
      const [coreCount, load, mem, fs] = await Promise.all([cores, si.currentLoad(), si.mem(), statfs(dataDir).catch(() => statfs("/"))]);
      // As df counts: used is what is not free, the size every block.
      const disk = { used: (fs.blocks - fs.bfree) * fs.bsize, total: fs.blocks * fs.bsize };
      const memUsed = mem.total - mem.available;
      const cpuPercent = round(load.currentLoad);
      return {
        cpu: { used: round((cpuPercent / 100) * coreCount), total: coreCount, percent: cpuPercent },
        memory: { used: memUsed, total: mem.total, percent: share(memUsed, mem.total) },
        disk: { ...disk, percent: share(disk.used, disk.total) },
      };
    },
  };
}
