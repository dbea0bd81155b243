/**
 * `registry top`: a live dashboard of nodes (CPU, memory, disk and GPU bars, heartbeat
 * age) and instance health per service. It follows the buckets and redraws when they
 * change, at most ten times a second; nodes heartbeat, so ages stay fresh.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { parseArgs } from "./args.ts";
import type { CliContext } from "./context.ts";
import { ago, bar, table } from "./format.ts";
import { namesFor } from "../contract/names.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { readDefinition, readInstance, readNode } from "../contract/readers.ts";
import { KvMirror } from "../nats/index.ts";

export const TOP_HELP = `registry top

A live dashboard: nodes with CPU, memory, disk and GPU usage and heartbeat age; instance
health per service. Redraws as the registry changes; Ctrl-C to stop.
`;

const CLEAR = "\x1b[2J\x1b[H";

export function renderTop(nodes: Node[], instances: Instance[], definitions: number, now = Date.now()): string {
  const out: string[] = [];
  out.push(`registry top  ${new Date(now).toISOString()}  nodes ${nodes.length}  instances ${instances.length}  definitions ${definitions}\n\n`);
  const gpus = (n: Node) => {
    if (!n.gpus?.length) return "-";
    const util = n.gpus.reduce((s, g) => s + (g.gpuUtilization ?? 0), 0) / n.gpus.length;
    return `${n.gpus.length} ${bar(util, 10)}`;
  };
  out.push(
    table(
      ["NODE ID", "STATUS", "CPU", "MEMORY", "DISK", "GPUS", "LAST HEARTBEAT"],
      [...nodes]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((n) => [n.id, n.status, bar(n.usage?.cpu.percent ?? 0, 10), bar(n.usage?.memory.percent ?? 0, 10), bar(n.usage?.disk.percent ?? 0, 10), gpus(n), ago(n.lastHeartbeat, now)]),
    ),
  );
  out.push("\n");
  const bySlug = new Map<string, Instance[]>();
  for (const i of instances) {
    const slug = i.slug ?? "(no slug)";
    bySlug.set(slug, [...(bySlug.get(slug) ?? []), i]);
  }
  const count = (list: Instance[], ...statuses: Instance["status"][]) => String(list.filter((i) => statuses.includes(i.status)).length);
  out.push(
    table(
      ["SERVICE", "HEALTHY", "DEGRADED", "UNHEALTHY", "UNREACHABLE", "OTHER", "TOTAL"],
      [...bySlug.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([slug, list]) => [
          slug,
          count(list, "Healthy"),
          count(list, "Degraded"),
          count(list, "Unhealthy"),
          count(list, "Unreachable"),
          count(list, "Unknown", "Starting", "Stopping"),
          String(list.length),
        ]),
    ),
  );
  return out.join("");
}

export async function topCommand(argv: string[], ctx: CliContext, stopped: Promise<void>): Promise<void> {
  const p = parseArgs(argv, {});
  if (p.flags.help) return void ctx.out.write(TOP_HELP);
  const nc = await ctx.nc();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const names = namesFor(ctx.config.prefix);
  const log = pino({ level: "silent" });
  const nodes = new KvMirror<Node>(js, jsm, names.buckets.node, log, { read: readNode });
  const instances = new KvMirror<Instance>(js, jsm, names.buckets.instance, log, { read: readInstance });
  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log, { read: readDefinition });

  let pending: NodeJS.Timeout | undefined;
  const draw = () => {
    pending = undefined;
    ctx.out.write(CLEAR + renderTop([...nodes.values()], [...instances.values()], definitions.size));
  };
  const schedule = () => void (pending ??= setTimeout(draw, 100));
  for (const m of [nodes, instances, definitions]) m.onChange(schedule);
  await Promise.all([nodes.start(), instances.start(), definitions.start()]);
  draw();
  await stopped;
  clearTimeout(pending);
  for (const m of [nodes, instances, definitions]) m.stop();
}
