/** What the node side needs from the rest of the registry; the composition root supplies both. */
import type { Entry } from "../contract/names.ts";
import type { Heartbeat, Node } from "../contract/schemas.ts";

/** The node transitions that heartbeats and the liveness monitor drive. */
export type NodeLivenessCommands = {
  observeHeartbeat(heartbeat: Heartbeat, receivedAt: string): Promise<{ node: Node | null; written: boolean }>;
  checkLiveness(id: string, lastHeartbeat: string, offlineAfterMs: number): Promise<{ node: Node | null; written: boolean }>;
  removeOfflineNode(id: string, reason: string): Promise<{ node: Node | null; written: boolean }>;
};

/** The nodes bucket as last seen: each entry with its KV revision and version. */
export type NodesView = {
  entry(id: string): Entry<Node> | undefined;
  values(): Iterable<Node>;
};
