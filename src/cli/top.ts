/**
 * `registry top`: a live dashboard of nodes (CPU, memory, disk and GPU bars, heartbeat
 * age) and instance health per service. It follows the buckets and redraws when they
 * change, at most ten times a second; nodes heartbeat, so ages stay fresh.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import type { Command } from "commander";
import type { Cli, CliContext } from "./context.ts";
import { ago, bar, table } from "./format.ts";
import { namesFor } from "../contract/names.ts";
import type { Definition, Instance, Node } from "../contract/schemas.ts";
import { readDefinition, readInstance, readNode } from "../contract/readers.ts";
import { KvMirror } from "../nats/index.ts";

const CLEAR = "\x1b[2J\x1b[H";
/** Below this many columns, bars give way to percentages and headers to their short forms. */
const WIDE = 120;

/** Each status counted apart, in the order a reader scans them: the good, the bad, the in-between. */
const STATUS_COLUMNS: [Instance["status"], string, string][] = [
  ["Healthy", "HEALTHY", "OK"],
  ["Degraded", "DEGRADED", "DEG"],
  ["Unhealthy", "UNHEALTHY", "BAD"],
  ["Unreachable", "UNREACHABLE", "UNR"],
  ["Unknown", "UNKNOWN", "UNK"],
  ["Starting", "STARTING", "UP"],
  ["Stopping", "STOPPING", "DOWN"],
];
const LEGEND = "OK healthy  DEG degraded  BAD unhealthy  UNR unreachable\nUNK unknown  UP starting  DOWN stopping\n";
/** What the narrow node table's other columns take: STATUS, CPU, MEM, DISK, GPUS, SEEN and their gaps. */
const NARROW_NODE_COLUMNS = 44;

const percentOf = (p: number | undefined) => `${Math.round(p ?? 0)}%`;
const shorten = (text: string, width: number) => (text.length > width ? `${text.slice(0, Math.max(1, width - 1))}…` : text);
/** Each line cut to `width`, so that a narrow terminal never wraps a redraw. */
const clip = (text: string, width: number) => text.split("\n").map((l) => shorten(l, width)).join("\n");

export function renderTop(nodes: Node[], instances: Instance[], definitions: number, now = Date.now(), columns = 120): string {
  const wide = columns >= WIDE;
  const out: string[] = [];
  out.push(`registry top  ${new Date(now).toISOString().slice(wide ? 0 : 11, 19)}  nodes ${nodes.length}  instances ${instances.length}  definitions ${definitions}\n\n`);
  const usage = (p: number | undefined) => (wide ? bar(p ?? 0, 10) : percentOf(p));
  const gpus = (n: Node) => {
    if (!n.gpus?.length) return "-";
    return `${n.gpus.length} ${usage(n.gpus.reduce((s, g) => s + (g.gpuUtilization ?? 0), 0) / n.gpus.length)}`;
  };
  out.push(
    table(
      ["NODE ID", "STATUS", "CPU", wide ? "MEMORY" : "MEM", "DISK", "GPUS", wide ? "LAST HEARTBEAT" : "SEEN"],
      [...nodes]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((n) => [wide ? n.id : shorten(n.id, Math.max(8, columns - NARROW_NODE_COLUMNS)), n.status, usage(n.usage?.cpu.percent), usage(n.usage?.memory.percent), usage(n.usage?.disk.percent), gpus(n), ago(n.lastHeartbeat, now)]),
    ),
  );
  out.push("\n");
  const bySlug = new Map<string, Instance[]>();
  for (const i of instances) {
    const slug = i.slug ?? "(no slug)";
    bySlug.set(slug, [...(bySlug.get(slug) ?? []), i]);
  }
  out.push(
    table(
      ["SERVICE", ...STATUS_COLUMNS.map(([, long, short]) => (wide ? long : short)), "TOTAL"],
      [...bySlug.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([slug, list]) => [slug, ...STATUS_COLUMNS.map(([status]) => String(list.filter((i) => i.status === status).length)), String(list.length)]),
    ),
  );
  if (!wide) out.push(LEGEND);
  return clip(out.join(""), columns);
}

export function topCommand(program: Command, cli: Cli): void {
  program
    .command("top")
    .description("a live dashboard: nodes' CPU, memory, disk, GPU and heartbeat age; instance health per service")
    .addHelpText(
      "after",
      "\nRedraws as the registry changes, fitted to the terminal's width; Ctrl-C to stop. Piped, it writes each frame after a blank line instead of clearing the screen; with --json, one snapshot ({nodes, services, definitions}) and exits.\n",
    )
    .action(cli.action((ctx) => top(ctx, cli)));
}

async function top(ctx: CliContext, cli: Cli): Promise<void> {
  if (ctx.json) {
    // One snapshot, from the API: no bucket is read whole to print it.
    const client = await ctx.client();
    const [nodes, services, definitions] = await Promise.all([client.listNodes(), client.listServices(), client.listDefinitions()]);
    return ctx.print({ nodes, services, definitions: definitions.length }, () => "");
  }
  const nc = await ctx.nc();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const names = namesFor(ctx.config.prefix);
  const log = pino({ level: "silent" });
  const nodes = new KvMirror<Node>(js, jsm, names.buckets.node, log, { read: readNode });
  const instances = new KvMirror<Instance>(js, jsm, names.buckets.instance, log, { read: readInstance });
  const definitions = new KvMirror<Definition>(js, jsm, names.buckets.definition, log, { read: readDefinition });

  let pending: NodeJS.Timeout | undefined;
  // On a terminal each frame replaces the last; piped, frames follow one another (as top -b's).
  const terminal = ctx.out.columns !== undefined;
  const draw = () => {
    pending = undefined;
    ctx.out.write((terminal ? CLEAR : "\n") + renderTop([...nodes.values()], [...instances.values()], definitions.size, Date.now(), ctx.out.columns));
  };
  const schedule = () => void (pending ??= setTimeout(draw, 100));
  for (const m of [nodes, instances, definitions]) m.onChange(schedule);
  await Promise.all([nodes.start(), instances.start(), definitions.start()]);
  draw();
  await cli.interrupted();
  clearTimeout(pending);
  for (const m of [nodes, instances, definitions]) m.stop();
}
