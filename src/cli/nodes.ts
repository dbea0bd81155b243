import { bytes, int, list, parseArgs, percent, str, UsageError } from "./args.ts";
import type { CliContext } from "./context.ts";
import { asOfArg } from "./history.ts";
import { ago, table } from "./format.ts";
import type { NodeRef } from "../contract/api.ts";
import type { Node, SelectNodesRequest } from "../contract/schemas.ts";

export const NODES_HELP = `registry nodes|node|n <verb>

  list | ls [--id ID]... [--as-of TIME|1h|SEQ]   list nodes (as they were then)
  get ID-or-URL              show one node
  self                       the node of the registry process that answers
  remove | rm ID-or-URL      remove a node (it joins again on its next heartbeat if alive)
  select [--min-cpu-free PERCENT] [--min-memory-free SIZE] [--min-disk-free SIZE]
         [--gpus N] [--min-gpu-free-memory MIB] [--max-gpu-utilization PERCENT]
         [--region R] [--zone Z] [--strategy bestFit|leastLoaded]
                             the online nodes that fit, best first; SIZE in bytes or
                             with a unit (1G, 512Mi, 2GiB), PERCENT with or without %

Options: --json (the JSON the NATS API returns), --help
`;

const SELECT_FLAGS = ["min-cpu-free", "min-memory-free", "min-disk-free", "gpus", "min-gpu-free-memory", "max-gpu-utilization", "region", "zone", "strategy"];

export const nodeRows = (nodes: Node[]) => table(["NODE ID", "URL", "LAST HEARTBEAT"], nodes.map((n) => [n.id, n.url, ago(n.lastHeartbeat)]));

const refOf = (idOrUrl: string): NodeRef => (idOrUrl.includes("://") ? { url: idOrUrl } : { id: idOrUrl });

export async function nodesCommand(argv: string[], ctx: CliContext): Promise<void> {
  const p = parseArgs(argv, { repeatable: ["id"], values: [...SELECT_FLAGS, "as-of"] });
  const [verb, arg] = p.positionals;
  if (p.flags.help || !verb) return void ctx.out.write(NODES_HELP);
  const client = await ctx.client();
  const need = () => {
    if (!arg) throw new UsageError(`nodes ${verb} needs an ID or URL; see registry nodes --help`);
    return refOf(arg);
  };
  switch (verb) {
    case "list":
    case "ls": {
      const ids = list(p, "id");
      const asOf = asOfArg(str(p, "as-of"));
      const nodes = await client.listNodes(ids.length ? ids : undefined, asOf !== undefined ? { asOf } : {});
      return ctx.print({ nodes }, () => nodeRows(nodes));
    }
    case "get":
    case "self": {
      const node = verb === "self" ? await client.selfNode() : await client.getNode(need());
      return ctx.print({ node }, () => nodeRows([node]));
    }
    case "remove":
    case "rm":
      await client.removeNode(need());
      return ctx.print({}, () => `removed node ${arg}\n`);
    case "select": {
      const requirements: SelectNodesRequest = Object.fromEntries(
        Object.entries({
          minCpuFreePercent: percent(p, "min-cpu-free"),
          minMemoryFreeBytes: bytes(p, "min-memory-free"),
          minDiskFreeBytes: bytes(p, "min-disk-free"),
          gpuCount: int(p, "gpus"),
          minGpuFreeMemoryMiB: int(p, "min-gpu-free-memory"),
          maxGpuUtilization: percent(p, "max-gpu-utilization"),
          region: str(p, "region"),
          availabilityZone: str(p, "zone"),
          strategy: str(p, "strategy"),
        }).filter(([, v]) => v !== undefined),
      );
      const nodes = await client.selectNodes(requirements);
      return ctx.print({ nodes }, () => nodeRows(nodes));
    }
    default:
      throw new UsageError(`unknown verb "${verb}" for nodes; see registry nodes --help`);
  }
}
