/**
 * Runs the active checks of the instances assigned to it, each on its own interval, and
 * reports an outcome only when it would change the instance's status: a check that
 * finds the status unchanged sends and writes nothing. Failures count only after
 * `failuresBeforeChange` in a row, so one lost probe does not flap a live instance out.
 */
import type { Logger } from "pino";
import type { CheckOutcome, Instance } from "../contract/schemas.ts";
import { checkChangesStatus } from "../domain/instanceHealth.ts";
import { CHECK_DEFAULTS, probe } from "./probes.ts";

export type CheckReport = { id: string; outcome: CheckOutcome; detail: string };

type CheckState = { nextDue: number; failures: number; running: boolean; reported?: { outcome: CheckOutcome; at: number } };

export type HealthChecker = { stop(): void };

export function healthChecker(deps: {
  /** The instances this checker is responsible for. */
  assigned: () => Iterable<Instance>;
  /** The instance as currently known, to compare an outcome with. */
  current: (id: string) => Instance | undefined;
  report: (r: CheckReport) => Promise<void>;
  log: Logger;
  tickMs?: number;
  maxConcurrent?: number;
}): HealthChecker {
  const { log } = deps;
  const states = new Map<string, CheckState>();
  const maxConcurrent = deps.maxConcurrent ?? 64;
  let running = 0;

  async function run(instance: Instance, state: CheckState): Promise<void> {
    const check = instance.check!;
    const interval = check.intervalMs ?? CHECK_DEFAULTS.intervalMs;
    state.running = true;
    running++;
    try {
      const result = await probe(instance, check);
      state.nextDue = Date.now() + interval;
      const failing = result.outcome === "failed" || result.outcome === "unreachable";
      state.failures = failing ? state.failures + 1 : 0;
      if (failing && state.failures < (check.failuresBeforeChange ?? CHECK_DEFAULTS.failuresBeforeChange)) return;
      const now = deps.current(instance.id);
      if (!now || !checkChangesStatus(now, result.outcome)) return;
      if (state.reported?.outcome === result.outcome && Date.now() - state.reported.at < interval) return; // still being written
      state.reported = { outcome: result.outcome, at: Date.now() };
      await deps.report({ id: instance.id, outcome: result.outcome, detail: result.detail });
    } catch (err) {
      log.warn({ err, instance: instance.id }, "health check could not be reported; trying again next interval");
    } finally {
      state.running = false;
      running--;
    }
  }

  function tick(): void {
    const now = Date.now();
    const seen = new Set<string>();
    for (const instance of deps.assigned()) {
      if (!instance.check) continue;
      seen.add(instance.id);
      let state = states.get(instance.id);
      if (!state) states.set(instance.id, (state = { nextDue: now, failures: 0, running: false }));
      if (state.running || now < state.nextDue || running >= maxConcurrent) continue;
      void run(instance, state);
    }
    for (const id of states.keys()) if (!seen.has(id)) states.delete(id);
  }

  const timer = setInterval(tick, deps.tickMs ?? 100);
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
