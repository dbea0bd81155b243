/**
 * The policy a process enforces (REGISTRY_POLICY): read at start, read again on reload. A
 * policy that cannot be read leaves the last one in force, and the error says why.
 * Without a file every caller may do everything.
 */
import type { Logger } from "pino";
import { loadPolicy, policyWarnings, type Policy } from "./policy.ts";

export type PolicyInForce = {
  current: () => Policy | undefined;
  /** Reads the file again; throws (the last policy staying in force) when it cannot be read. */
  reload: () => Promise<{ accounts: number }>;
};

export async function policyInForce(file: string | undefined, log: Logger): Promise<PolicyInForce> {
  let policy = file ? await loadPolicy(file) : undefined;
  const warn = (p: Policy) => {
    for (const warning of policyWarnings(p)) log.warn({ file }, warning);
  };
  if (policy) warn(policy);
  else log.warn("running without authentication: no REGISTRY_POLICY, so every caller may do everything (fine on a loopback server; secure/ has a deployment's layout)");
  return {
    current: () => policy,
    async reload() {
      if (!file) throw new Error("this process runs without REGISTRY_POLICY, so it has no policy to read");
      try {
        policy = await loadPolicy(file);
      } catch (err) {
        log.error({ err }, "policy not reloaded; the last one stays in force");
        throw new Error(`${(err as Error).message}; the last policy stays in force`, { cause: err });
      }
      const accounts = Object.keys(policy.accounts).length;
      log.info({ file, accounts }, "policy reloaded");
      warn(policy);
      return { accounts };
    },
  };
}
