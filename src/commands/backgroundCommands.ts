/**
 * The commands of the registry's own loops, not of its API: node liveness (heartbeats,
 * the liveness monitor) and instance health (leases, instances following their node, the
 * expiry protection). They run through the same write path as requests.
 */
import type { Caller, ExpiryProtection } from "../contract/api.ts";
import type { Heartbeat, Instance, Node } from "../contract/schemas.ts";
import { instanceDecider } from "../domain/instance.ts";
import type { InstanceHealthCommand } from "../domain/instanceHealth.ts";
import { nodeDecider } from "../domain/node.ts";
import { expiryProtectionDecider, type LeaseCensus } from "../domain/expiryProtection.ts";
import { readState } from "./execute.ts";
import { writePath, type WritePathDeps } from "./writePath.ts";

type Written = { written: boolean };

export function backgroundCommands(deps: WritePathDeps) {
  const { names } = deps;
  const { now, run, instanceHint } = writePath(deps);
  const health = (command: InstanceHealthCommand) =>
    run(instanceDecider, names.eventSubject("instance", command.data.id), command, { hint: instanceHint(command.data.id) });
  const protectionSubject = names.eventSubject("protection", "expiry");

  return {
    async observeHeartbeat(heartbeat: Heartbeat, receivedAt: string): Promise<Written & { node: Node | null }> {
      const command = { type: "ObserveHeartbeat" as const, data: { heartbeat, receivedAt }, metadata: { now: now() } };
      const { state, written } = await run(nodeDecider, names.eventSubject("node", heartbeat.id), command);
      return { node: state, written };
    },

    async checkLiveness(id: string, lastHeartbeat: string, offlineAfterMs: number): Promise<Written & { node: Node | null }> {
      const command = { type: "CheckLiveness" as const, data: { id, lastHeartbeat, offlineAfterMs }, metadata: { now: now() } };
      const { state, written } = await run(nodeDecider, names.eventSubject("node", id), command);
      return { node: state, written };
    },

    /** Removes a node whose URL passes to another, if it is still Offline; `node` is what is left (null: gone). */
    async removeOfflineNode(id: string, reason: string): Promise<Written & { node: Node | null }> {
      const command = { type: "RemoveNode" as const, data: { id, reason, whenOffline: true }, metadata: { now: now() } };
      const { state, written } = await run(nodeDecider, names.eventSubject("node", id), command);
      return { node: state, written };
    },

    /** A renewal that brings the instance back: an event, by the caller that renewed. */
    async recoverLease(id: string, caller?: Caller): Promise<Written & { instance: Instance | null }> {
      const command = { type: "RenewLease" as const, data: { id }, metadata: { now: now() } };
      const { state, written } = await run(instanceDecider, names.eventSubject("instance", id), command, { caller, hint: instanceHint(id) });
      return { instance: state, written };
    },

    checkLease: (id: string, lastRenewal: string): Promise<Written> => health({ type: "CheckLease", data: { id, lastRenewal }, metadata: { now: now() } }),

    markNodeOffline: (id: string, nodeId: string): Promise<Written> => health({ type: "MarkNodeOffline", data: { id, nodeId }, metadata: { now: now() } }),

    markNodeOnline: (id: string, nodeId: string): Promise<Written> => health({ type: "MarkNodeOnline", data: { id, nodeId }, metadata: { now: now() } }),

    protectionState: (): Promise<ExpiryProtection> => readState(deps.store, expiryProtectionDecider, protectionSubject),

    async evaluateProtection(census: LeaseCensus, share: number, windowMs: number): Promise<Written & { protection: ExpiryProtection }> {
      const command = { type: "EvaluateProtection" as const, data: { census, share, windowMs }, metadata: { now: now() } };
      const { state, written } = await run(expiryProtectionDecider, protectionSubject, command);
      return { protection: state, written };
    },
  };
}
