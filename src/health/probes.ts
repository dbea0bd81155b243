/**
 * One active check of an instance: an HTTP request or a TCP connect, with a timeout.
 * A passing answer slower than `slowMs` is "slow"; no answer is "unreachable".
 */
import { connect } from "node:net";
import type { CheckOutcome, HealthCheck, Instance } from "../contract/schemas.ts";
import { defaultPortOf } from "../domain/address.ts";

export const CHECK_DEFAULTS = { intervalMs: 10_000, timeoutMs: 2_000, failuresBeforeChange: 2 };

export type ProbeResult = { outcome: CheckOutcome; detail: string; ms: number };

export const slowMsOf = (check: HealthCheck) => check.slowMs ?? Math.floor((check.timeoutMs ?? CHECK_DEFAULTS.timeoutMs) / 2);

function timed(outcome: "passed" | "failed", detail: string, started: number, check: HealthCheck): ProbeResult {
  const ms = Date.now() - started;
  if (outcome === "passed" && ms > slowMsOf(check)) return { outcome: "slow", detail: `${detail} in ${ms} ms, slower than ${slowMsOf(check)} ms`, ms };
  return { outcome, detail: `${detail} in ${ms} ms`, ms };
}

/**
 * What an HTTP check GETs: the path on the instance's own origin. Instances come from KV
 * entries, which are untrusted, so a target on any other origin, or not over HTTP, is never
 * fetched (the registry must not be made to GET an arbitrary address).
 */
function httpTarget(instance: Instance, check: HealthCheck): { url: string } | { refused: string } {
  if (!URL.canParse(instance.url)) return { refused: `the instance's url ${instance.url} is not a URL` };
  const base = new URL(instance.url);
  if (base.protocol !== "http:" && base.protocol !== "https:") return { refused: `an http check needs an http or https url, not ${base.protocol}` };
  if (!check.path) return { url: base.href };
  const relativeTo = base.href.endsWith("/") ? base.href : `${base.href}/`;
  const target = URL.canParse(check.path, relativeTo) ? new URL(check.path, relativeTo) : undefined;
  if (!target || target.origin !== base.origin) return { refused: `check path ${check.path} leaves the instance's origin ${base.origin}` };
  return { url: target.href };
}

async function httpProbe(instance: Instance, check: HealthCheck): Promise<ProbeResult> {
  const to = httpTarget(instance, check);
  if ("refused" in to) return { outcome: "failed", detail: `not checked: ${to.refused}`, ms: 0 };
  const target = to.url;
  const timeoutMs = check.timeoutMs ?? CHECK_DEFAULTS.timeoutMs;
  const started = Date.now();
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    await res.body?.cancel();
    const ok = check.expectStatus !== undefined ? res.status === check.expectStatus : res.status >= 200 && res.status < 300;
    const expected = check.expectStatus ?? "2xx";
    return timed(ok ? "passed" : "failed", `GET ${target} answered ${res.status} (expected ${expected})`, started, check);
  } catch (err) {
    const reason = (err as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : ((err as { cause?: Error }).cause?.message ?? (err as Error).message);
    return { outcome: "unreachable", detail: `GET ${target}: ${reason}`, ms: Date.now() - started };
  }
}

function tcpProbe(instance: Instance, check: HealthCheck): Promise<ProbeResult> {
  const url = new URL(instance.url);
  const host = instance.ip ?? instance.host ?? url.hostname.replace(/^\[(.*)\]$/, "$1");
  // A scheme without a port of its own (tcp://host) is tried on 80: only a grant of every port covers such an address.
  const port = instance.port ?? (Number(url.port) || (defaultPortOf(url.protocol.replace(/:$/, "")) ?? 80));
  const timeoutMs = check.timeoutMs ?? CHECK_DEFAULTS.timeoutMs;
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: ProbeResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done({ outcome: "unreachable", detail: `TCP ${host}:${port}: no connection within ${timeoutMs} ms`, ms: Date.now() - started }));
    socket.once("connect", () => done(timed("passed", `TCP ${host}:${port} connected`, started, check)));
    socket.once("error", (err) => done({ outcome: "unreachable", detail: `TCP ${host}:${port}: ${err.message}`, ms: Date.now() - started }));
  });
}

export function probe(instance: Instance, check: HealthCheck): Promise<ProbeResult> {
  return check.type === "http" ? httpProbe(instance, check) : tcpProbe(instance, check);
}
