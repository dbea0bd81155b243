import type { Command } from "commander";
import { bytes, count, defined, number, percent, repeated, sequenceOrTime } from "./args.ts";
import type { Cli } from "./context.ts";
import { ago, table } from "./format.ts";
import type { NodeRef, NodeRefusal } from "../contract/api.ts";
import type { Node, SelectNodesRequest } from "../contract/schemas.ts";

export const nodeRows = (nodes: Node[]) => table(["NODE ID", "STATUS", "URL", "LAST HEARTBEAT"], nodes.map((n) => [n.id, n.status, n.url, ago(n.lastHeartbeat)]));

const refusedRows = (refused: NodeRefusal[]) =>
  table(["REFUSED NODE", "FAILS"], refused.map((r) => [r.node, r.failed.map((f) => `${f.requirement} needs ${f.needs}, has ${f.has ?? "none"}`).join("; ")]));

const NO_NODE_FITS = "no Online node fits these requirements (--explain says what each node fails)";

const refOf = (idOrUrl: string): NodeRef => (idOrUrl.includes("://") ? { url: idOrUrl } : { id: idOrUrl });

type SelectOptions = {
  definition?: string; minCpuFreeCores?: number; explain?: boolean;
  minCpuFree?: number; minMemoryFree?: number; minDiskFree?: number; gpus?: number; minGpuFreeMemory?: number;
  maxGpuUtilization?: number; region?: string; zone?: string; strategy?: SelectNodesRequest["strategy"];
};

export function nodesCommand(program: Command, cli: Cli): void {
  const nodes = program.command("nodes").aliases(["node", "n"]).description("machines that heartbeat their usage: list, get, self, remove, select");
  nodes
    .command("list")
    .alias("ls")
    .description("list nodes")
    .option("--id <id>", "only this node (repeat for more)", repeated)
    .option("--as-of <time|1h|seq>", "as they were then (folded from the events)", sequenceOrTime)
    .action(
      cli.action<{ id?: string[]; asOf?: string | number }>(async (ctx, _, { id, asOf }) => {
        const nodes = await (await ctx.client()).listNodes(id, defined({ asOf }));
        ctx.printList({ nodes }, nodes, () => nodeRows(nodes), asOf !== undefined ? `no node as of ${asOf}` : id ? `no node ${id.join(", ")}` : "no node has joined yet: a node joins on its first heartbeat (registry agent)");
      }),
    );
  nodes
    .command("get")
    .description("show one node")
    .argument("<id-or-url>")
    .action(
      cli.action(async (ctx, [ref]) => {
        const node = await (await ctx.client()).getNode(refOf(ref!));
        ctx.print({ node }, () => nodeRows([node]));
      }),
    );
  nodes
    .command("self")
    .description("the node of the registry process that answers")
    .action(
      cli.action(async (ctx) => {
        const node = await (await ctx.client()).selfNode();
        ctx.print({ node }, () => nodeRows([node]));
      }),
    );
  nodes
    .command("remove")
    .alias("rm")
    .description("remove a node (it joins again on its next heartbeat if alive)")
    .argument("<id-or-url>")
    .action(
      cli.action(async (ctx, [ref]) => {
        await (await ctx.client()).removeNode(refOf(ref!));
        ctx.print({}, () => `removed node ${ref}\n`);
      }),
    );
  nodes
    .command("select")
    .description("the Online nodes that fit, best first")
    .option("--definition <id>", "place this definition: its requirements (the options below override them)")
    .option("--min-cpu-free <percent>", "free CPU, e.g. 50 or 50%", percent)
    .option("--min-cpu-free-cores <cores>", "free CPU cores, e.g. 2 or 0.5", number)
    .option("--min-memory-free <size>", "free memory, e.g. 1G, 512Mi, 2GiB or bytes", bytes)
    .option("--min-disk-free <size>", "free disk, e.g. 20G", bytes)
    .option("--gpus <n>", "at least n GPUs", count)
    .option("--min-gpu-free-memory <MiB>", "free memory on each of those GPUs, in MiB", count)
    .option("--max-gpu-utilization <percent>", "their utilization at most", percent)
    .option("--region <region>", "in this region")
    .option("--zone <zone>", "in this availability zone")
    .option("--strategy <strategy>", "bestFit (the fullest that fits first) or leastLoaded")
    .option("--explain", "also list each node that does not fit and the requirements it fails")
    .action(
      cli.action<SelectOptions>(async (ctx, _, o) => {
        const requirements: SelectNodesRequest = defined({
          definitionId: o.definition,
          minCpuFreeCores: o.minCpuFreeCores,
          minCpuFreePercent: o.minCpuFree,
          minMemoryFreeBytes: o.minMemoryFree,
          minDiskFreeBytes: o.minDiskFree,
          gpuCount: o.gpus,
          minGpuFreeMemoryMiB: o.minGpuFreeMemory,
          maxGpuUtilization: o.maxGpuUtilization,
          region: o.region,
          availabilityZone: o.zone,
          strategy: o.strategy,
        });
        const client = await ctx.client();
        if (!o.explain) {
          const nodes = await client.selectNodes(requirements);
          return ctx.printList({ nodes }, nodes, () => nodeRows(nodes), NO_NODE_FITS);
        }
        const placement = await client.explainPlacement(requirements);
        if (!ctx.json && placement.nodes.length === 0) ctx.err.write(`${NO_NODE_FITS}\n`);
        ctx.print(placement, () => (placement.nodes.length ? nodeRows(placement.nodes) : "") + (placement.refused.length ? `${placement.nodes.length ? "\n" : ""}${refusedRows(placement.refused)}` : ""));
      }),
    );
}
