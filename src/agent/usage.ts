/**
 * CPU, memory and disk usage from systeminformation. The core count is read once; every
 * call it makes is asynchronous (procfs reads, `df`), so sampling does not hold the event loop.
 */
import { realpath } from "node:fs/promises";
import si from "systeminformation";
import type { ResourceUsage } from "../contract/schemas.ts";

const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;
const share = (used: number, total: number) => (total > 0 ? round((used / total) * 100) : 0);

export type UsageProbe = { sample(): Promise<ResourceUsage> };

/** `dataDir`'s filesystem is the node's disk. */
export function systemUsageProbe(dataDir: string): UsageProbe {
  let cores: Promise<number> | undefined;
  let disk: Promise<string> | undefined;
  return {
    async sample() {
      cores ??= si.cpu().then((c) => c.cores);
      disk ??= realpath(dataDir).catch(() => "/");
      const [coreCount, load, mem, filesystems, dir] = await Promise.all([cores, si.currentLoad(), si.mem(), si.fsSize(), disk]);
      const mount = filesystems
        .filter((f) => dir === f.mount || dir.startsWith(f.mount.endsWith("/") ? f.mount : `${f.mount}/`))
        .sort((a, b) => b.mount.length - a.mount.length)[0];
      const memUsed = mem.total - mem.available;
      const cpuPercent = round(load.currentLoad);
      return {
        cpu: { used: round((cpuPercent / 100) * coreCount), total: coreCount, percent: cpuPercent },
        memory: { used: memUsed, total: mem.total, percent: share(memUsed, mem.total) },
        disk: mount ? { used: mount.used, total: mount.size, percent: share(mount.used, mount.size) } : { used: 0, total: 0, percent: 0 },
      };
    },
  };
}
