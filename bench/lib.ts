/** Timing helpers for the benchmarks: latency with one request in flight, throughput with many. */
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";

export type Latency = { p50: number; p99: number; n: number };
export type Throughput = { opsPerSecond: number; n: number; inFlight: number };

/** The p-th percentile of sorted values. */
export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const round = (n: number, places = 3) => Math.round(n * 10 ** places) / 10 ** places;

/** Runs `op` n times one after the other; milliseconds per op at p50 and p99. */
export async function latency(n: number, op: (i: number) => Promise<unknown>, warmup = Math.min(100, n)): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await op(-1 - i);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), n };
}

/** Runs `op` n times with `inFlight` outstanding at once; completed ops per second. */
export async function throughput(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<Throughput> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return { opsPerSecond: Math.round(n / ((performance.now() - started) / 1000)), n, inFlight };
}

/** Resident memory of a process, in bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export const ratio = (a: number, b: number) => round(a / b, 2);

/** An instance as the registry stores it, about the size of a real one. */
export function sampleInstance(n: number, slugs: number, at = new Date().toISOString()) {
  const id = `inst_${String(n).padStart(8, "0")}`;
  const port = 10000 + (n % 50000);
  return {
    id,
    url: `http://127.0.${Math.floor(n / 50000) % 250}.${1 + (n % 250)}:${port}`,
    scheme: "http",
    ip: `127.0.${Math.floor(n / 50000) % 250}.${1 + (n % 250)}`,
    port,
    slug: `svc-${String(n % slugs).padStart(5, "0")}`,
    deploymentId: `depl_${n % 997}`,
    tags: ["bench", n % 2 ? "blue" : "green"],
    status: "Healthy" as const,
    statusCause: "registered" as const,
    lastHeartbeat: at,
    createdAt: at,
    updatedAt: at,
  };
}

/** Polls `done` every `everyMs` until it holds; fails after `timeoutMs`, saying what it waited for. */
export async function waitUntil(done: () => Promise<boolean>, what: string, timeoutMs = 300_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A request to the registry's NATS API as a service sends it; its error reply is thrown, named by the subject. */
export async function registryRequest(nc: NatsConnection, subject: string, body: unknown, timeout = 60_000): Promise<any> {
  const reply = (await nc.request(`registry.${subject}`, JSON.stringify(body), { timeout })).json<any>();
  if (reply.error) throw new Error(`${subject}: ${reply.error.message}`);
  return reply;
}
