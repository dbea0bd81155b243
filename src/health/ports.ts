/** What instance health needs from the write side; the composition root supplies it. */
import type { Caller, ExpiryProtection } from "../contract/api.ts";
import type { Instance } from "../contract/schemas.ts";

/** The instance transitions that leases, nodes and the expiry protection drive. */
export type InstanceHealthCommands = {
  recoverLease(id: string, caller?: Caller): Promise<{ instance: Instance | null; written: boolean }>;
  checkLease(id: string, lastRenewal: string): Promise<{ written: boolean }>;
  markNodeOffline(id: string, nodeId: string): Promise<{ written: boolean }>;
  markNodeOnline(id: string, nodeId: string): Promise<{ written: boolean }>;
  protectionState(): Promise<ExpiryProtection>;
  evaluateProtection(
    census: { leases: number; lapsedInWindow: number; lapsedNow: number },
    share: number,
    windowMs: number,
  ): Promise<{ protection: ExpiryProtection; written: boolean }>;
};
