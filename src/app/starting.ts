/**
 * A registry process while it starts: its HTTP face answers from the first moment, `/readyz`
 * saying how far the read models have loaded (a million instances take seconds), and every
 * operation a 503 that says the same, until the process is ready and the gate opens onto the
 * real API. The log says the same every few seconds.
 */
import type { Logger } from "pino";
import type { RegistryApi } from "../contract/api.ts";
import { RegistryError } from "../contract/errors.ts";
import { operationRows } from "../contract/operations.ts";

const LOG_EVERY_MS = 2000;

export type StartingGate = ReturnType<typeof startingGate>;

export function startingGate(log: Logger) {
  const loading = new Map<string, { loaded: number; of: number }>();
  let api: RegistryApi | undefined;
  let logged = 0;
  const started = Date.now();

  /** How far it is, in words: each bucket still loading with its count and share. */
  function reason(): string {
    const left = [...loading].filter(([, p]) => p.loaded < p.of);
    if (loading.size === 0) return "starting: reading the sizes of the buckets";
    if (left.length === 0) return "starting: the read models are loaded, the rest is starting";
    return `starting: loading ${left.map(([bucket, p]) => `${bucket} at message ${p.loaded.toLocaleString("en")} of ${p.of.toLocaleString("en")} (${Math.floor((100 * p.loaded) / Math.max(1, p.of))}%)`).join(", ")}`;
  }

  const refuse = () => Promise.reject(new RegistryError(503, `this registry process is ${reason()}; retry in a few seconds, or ask another process`));
  const gated = Object.fromEntries(operationRows.map(([name]) => [name, (req: never, ctx: never) => (api ? (api[name] as (r: never, c: never) => Promise<unknown>)(req, ctx) : refuse())])) as RegistryApi;

  return {
    /** The API to hand to a face started before the process is ready. */
    api: gated,
    reason,
    isOpen: () => api !== undefined,
    /** A bucket's loading progress, to be told as it goes. */
    progress: (bucket: string) => (loaded: number, of: number) => {
      loading.set(bucket, { loaded, of });
      const now = Date.now();
      // A quick load says nothing; a long one says how far it is every few seconds, and when it is done.
      if (now - started < LOG_EVERY_MS || (now - logged < LOG_EVERY_MS && loaded < of)) return;
      logged = now;
      log.info({ bucket, loaded, of, seconds: Math.round((now - started) / 1000) }, `loading the read models: ${bucket} at message ${loaded} of ${of}`);
    },
    open(ready: RegistryApi): void {
      api = ready;
    },
  };
}
