/**
 * Where the operations meet: every handler of the API (contract/operations.ts) over one
 * process's read models, before the authorizer decides who may call it. Commands and queries
 * have modules of their own; lease renewals come from instance health, history from the
 * event stream, policy reloads from every process. The health figures are gathered here once,
 * for `health.status` and the service's `$SRV.STATS`.
 */
import type { HealthStatus, RegistryApi, RegistryCommands, RegistryQueries } from "../contract/api.ts";
import type { Leases } from "../health/leases.ts";
import { grantsOf } from "../domain/access.ts";

export type ProcessFigures = Omit<HealthStatus, "protection" | "leases">;

export type RegistryOperations = {
  /** The API, unauthorized: `authorize` wraps it. */
  api: RegistryApi;
  /** What `$SRV.STATS` shows of this process. */
  stats: () => Promise<{ expiryProtection: HealthStatus["protection"] | null } & Pick<ProcessFigures, "events" | "unreadable">>;
};

export function registryOperations(deps: {
  commands: RegistryCommands;
  queries: RegistryQueries;
  leases: Pick<Leases, "renewLease" | "healthStatus" | "lastProtection">;
  history: RegistryApi["history"];
  /** Asks every registry process to read its policy again. */
  reloadPolicy: RegistryApi["reloadPolicy"];
  /** This process's figures: event stream size, heartbeats stream, storage changes, what it could not read. */
  figures: () => ProcessFigures;
}): RegistryOperations {
  const { commands, queries, leases } = deps;
  return {
    api: {
      ...commands,
      ...queries,
      renewLease: leases.renewLease,
      healthStatus: async () => ({ ...(await leases.healthStatus()), ...deps.figures() }), // the same for every caller
      history: deps.history,
      reloadPolicy: deps.reloadPolicy,
      // Unauthorized, everyone may do everything; the authorizer answers for the caller.
      accessSelf: () => Promise.resolve(grantsOf({ kind: "open" })),
    },
    stats() {
      const { events, unreadable } = deps.figures();
      return Promise.resolve({ expiryProtection: leases.lastProtection() ?? null, events, unreadable });
    },
  };
}
