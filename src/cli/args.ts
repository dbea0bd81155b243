/**
 * Option values the CLI reads: numbers, sizes, percentages, booleans, repeated and JSON lists,
 * times. Each is a commander argument parser: it turns the text into the value or refuses it,
 * and commander names the option and the value in the error (exit 2).
 */
import { InvalidArgumentError } from "commander";
import { timeOf } from "../contract/pastTimes.ts";

/** A mistake in how the command was called or in a file it was given: exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export function number(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("It must be a number.");
  return n;
}

/** A whole number of at least zero (ports, counts, milliseconds, sequences). */
export function count(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError("It must be a whole number such as 3.");
  return Number(raw);
}

const UNITS: Record<string, number> = {
  "": 1, B: 1, K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9, T: 1e12, TB: 1e12,
  KI: 2 ** 10, KIB: 2 ** 10, MI: 2 ** 20, MIB: 2 ** 20, GI: 2 ** 30, GIB: 2 ** 30, TI: 2 ** 40, TIB: 2 ** 40,
};

/** A size in bytes, in plain bytes or with a unit: 1G and 1GB are 10^9, 512Mi and 512MiB are 512 x 2^20. */
export function bytes(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(raw.trim());
  const unit = UNITS[(m?.[2] ?? "").toUpperCase()];
  if (!m || unit === undefined) throw new InvalidArgumentError("It must be a size such as 1073741824, 1G, 512Mi or 2GiB.");
  return Math.round(Number(m[1]) * unit);
}

/** A percentage, with or without its %: 80 and 80% are the same. */
export function percent(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(raw.trim());
  if (!m) throw new InvalidArgumentError("It must be a percentage such as 80 or 80%.");
  return Number(m[1]);
}

/** `--flag`, `--flag true|false`, `--flag=true|false`: commander passes `true` for the bare flag. */
export function bool(raw: string | boolean): boolean {
  if (raw === true || raw === "true") return true;
  if (raw === false || raw === "false") return false;
  throw new InvalidArgumentError("It must be true or false.");
}

/** A flag given several times: each value appended. */
export const repeated = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `--meta key=value`, repeatable: the pairs gathered (the registry checks keys and values). */
export function keyValue(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = raw.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("It must be key=value, such as version=2.");
  const pairs = { ...previous };
  Object.defineProperty(pairs, raw.slice(0, at), { value: raw.slice(at + 1), enumerable: true, writable: true, configurable: true });
  return pairs;
}

/** A JSON list of strings, appended to what the repeated flag gathered. */
export function jsonList(raw: string, previous: string[] = []): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError(`It must be a JSON list such as '["dev","blue"]'.`);
  }
  if (!Array.isArray(parsed) || !parsed.every((t) => typeof t === "string")) throw new InvalidArgumentError("It must be a JSON list of strings.");
  return [...previous, ...parsed];
}

/** An RFC 3339 time, or a duration back from now (`1h`), as RFC 3339 (so that an older registry understands it too). */
export function time(raw: string, now = Date.now()): string {
  const at = timeOf(raw, now);
  if (Number.isNaN(Date.parse(at))) throw new InvalidArgumentError("It must be a time such as 2026-11-24T10:00:00Z or a duration such as 1h.");
  return new Date(at).toISOString();
}

/** A stream sequence (digits), an RFC 3339 time, or a duration back from now. */
export function sequenceOrTime(raw: string): string | number {
  if (/^\d+$/.test(raw)) return Number(raw);
  try {
    return time(raw);
  } catch {
    throw new InvalidArgumentError("It must be an event sequence (a whole number), a time such as 2026-11-24T10:00:00Z or a duration such as 1h.");
  }
}

/** Only the fields given, so that the registry's own defaults apply to the rest. */
export function defined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as T;
}
