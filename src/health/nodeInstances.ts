/**
 * Instances follow their node: when the node their `nodeUrl` names goes Offline they
 * become Unreachable, and when it is back (or gone) they return to the status they had.
 * Level-triggered every tick, so a registry process that dies mid-way leaves nothing
 * half done: the next tick, here or in another process, finishes it.
 */
import type { Logger } from "pino";
import type { InstanceHealthCommands } from "./ports.ts";
import type { Instance, Node } from "../contract/schemas.ts";
import { everyTick } from "../ticker.ts";

export type NodeInstances = { stop(): void; reconcile(): Promise<void> };

export function nodeInstances(deps: {
  instances: () => Iterable<Instance>;
  nodes: () => Iterable<Node>;
  owns(id: string): boolean;
  commands: InstanceHealthCommands;
  tickMs: number;
  log: Logger;
}): NodeInstances {
  const { commands, log } = deps;

  async function reconcile(): Promise<void> {
    const byUrl = new Map<string, Node>();
    for (const n of deps.nodes()) byUrl.set(n.url, n);
    for (const i of deps.instances()) {
      if (i.nodeUrl === undefined || !deps.owns(i.id)) continue;
      const node = byUrl.get(i.nodeUrl);
      if (node?.status === "Offline" && i.statusCause !== "node-offline") {
        const { written } = await commands.markNodeOffline(i.id, node.id);
        if (written) log.info({ instance: i.id, node: node.id }, "instance unreachable: its node is offline");
      } else if (i.statusCause === "node-offline" && node?.status !== "Offline") {
        const { written } = await commands.markNodeOnline(i.id, node?.id ?? "(removed)");
        if (written) log.info({ instance: i.id, node: node?.id }, "instance back: its node is online");
      }
    }
  }

  const ticker = everyTick(deps.tickMs, reconcile, log, "node/instance reconciliation");
  return { reconcile, stop: ticker.stop };
}
