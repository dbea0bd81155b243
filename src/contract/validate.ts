import type { TSchema, Static } from "typebox";
import { Compile } from "typebox/compile";
import { Value } from "typebox/value";
import { PATTERN_MEANING } from "./ids.ts";
import { CHECK_PATH_PATTERN, IP_PATTERN, LIMITS, NODE_URL_PATTERN, PRINTABLE_PATTERN } from "./limits.ts";
import { badRequest, type ErrorDetail } from "./errors.ts";
import Format from "typebox/format";

/**
 * `date-time` as TypeBox checks it, remembered for the last few thousand strings: an instance
 * carries three timestamps that are mostly one, and a read model loading a million of them
 * checks the same strings again and again (a second of a cold start, measured). Set before any
 * schema is compiled, since compiled checks take the format's function as it is then.
 */
const DATE_TIMES_REMEMBERED = 4096;
const isDateTime = Format.Get("date-time");
if (isDateTime) {
  const recent = new Map<string, boolean>();
  Format.Set("date-time", (value: string) => {
    let ok = recent.get(value);
    if (ok === undefined) {
      ok = isDateTime(value);
      if (recent.size >= DATE_TIMES_REMEMBERED) recent.clear();
      recent.set(value, ok);
    }
    return ok;
  });
}

type TypeBoxError = { keyword: string; schemaPath: string; instancePath: string; message: string; params: Record<string, unknown> };

/** What each pattern means, in words, for error messages. */
const MEANINGS: Record<string, string> = {
  ...PATTERN_MEANING,
  [PRINTABLE_PATTERN]: "must be printable ASCII without spaces (no control characters, tabs or newlines)",
  [CHECK_PATH_PATTERN]: "must be a path on the instance's own origin, starting with a single / (no scheme, host or backslash)",
  [IP_PATTERN]: "must be an IPv4 or IPv6 address",
  [NODE_URL_PATTERN]: "must be an http or https URL of printable ASCII",
};

/** Maps whose keys follow a rule (the field's name -> the rule in words): a key outside it is not a "field". */
const KEY_RULES: Record<string, string> = {
  metadata: `is not a valid metadata key: a letter or digit, then letters, digits, . _ / - (at most ${LIMITS.metadataKeyLength})`,
};

function messageOf(e: TypeBoxError): string {
  if (e.keyword === "anyOf") return e.message; // already said as one (unionsAsOne)
  if (e.keyword === "enum") return `must be one of ${(e.params.allowedValues as string[]).join(", ")}`;
  if (e.keyword === "pattern") return MEANINGS[e.params.pattern as string] ?? e.message;
  return e.message;
}

/** The part of `schema` at a JSON pointer such as `#/properties/asOf`. */
function schemaAt(schema: unknown, pointer: string): Record<string, unknown> | undefined {
  let at = schema;
  for (const step of pointer.replace(/^#\/?/, "").split("/").filter(Boolean)) {
    if (typeof at !== "object" || at === null) return undefined;
    at = (at as Record<string, unknown>)[step.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return typeof at === "object" && at !== null ? (at as Record<string, unknown>) : undefined;
}

/**
 * A value that matches no branch of a union fails each branch too; those failures are one
 * problem, said once: the union's `errorMessage` when it has one, else its branches' joined by "or".
 */
function unionsAsOne(errors: TypeBoxError[], schema: unknown): TypeBoxError[] {
  const unions = errors.filter((e) => e.keyword === "anyOf");
  if (unions.length === 0) return errors;
  const inBranch = (e: TypeBoxError, u: TypeBoxError) => e !== u && e.schemaPath.startsWith(`${u.schemaPath}/anyOf/`);
  return errors.flatMap((e) => {
    if (unions.some((u) => inBranch(e, u))) return [];
    if (e.keyword !== "anyOf") return [e];
    const said = schemaAt(schema, e.schemaPath)?.errorMessage;
    const branches = [...new Set(errors.filter((b) => inBranch(b, e)).map(messageOf))];
    return [{ ...e, message: typeof said === "string" ? said : branches.join(" or ") || e.message }];
  });
}

/** One readable line per failing field; TypeBox's internal duplicates are dropped. */
function toDetails(all: Iterable<TypeBoxError>, schema: unknown): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const e of unionsAsOne([...all], schema)) {
    if (e.keyword === "boolean") continue; // repeats an additionalProperties error
    if (e.keyword === "additionalProperties") {
      const extra = (e.params.additionalProperties as string[] | undefined) ?? [];
      const keyRule = KEY_RULES[e.instancePath.split("/").at(-1) ?? ""];
      for (const name of extra) details.push({ path: `${e.instancePath}/${name}`, message: keyRule ?? "is not a known field" });
      continue;
    }
    if (e.keyword === "required") {
      const missing = (e.params.requiredProperties as string[] | undefined) ?? [];
      for (const name of missing) details.push({ path: `${e.instancePath}/${name}`, message: "is required" });
      continue;
    }
    details.push({ path: e.instancePath || "/", message: messageOf(e) });
  }
  const seen = new Set<string>();
  return details.filter((d) => {
    const key = `${d.path} ${d.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

export type Validator<T extends TSchema> = (value: unknown) => Static<T>;

/**
 * Compiles a schema once; the returned function passes a valid value through or throws a
 * 400. `rule` checks what JSON Schema cannot say well, returning the failing details.
 */
export function validator<T extends TSchema>(schema: T, what: string, rule?: (value: Static<T>) => ErrorDetail[]): Validator<T> {
  const compiled = Compile(schema);
  return (value) => {
    if (compiled.Check(value)) {
      const broken = rule?.(value) ?? [];
      if (broken.length === 0) return value;
      throw badRequest(`invalid ${what}: ${broken.map((d) => `${d.path} ${d.message}`).join("; ")}`, broken);
    }
    const details = toDetails(compiled.Errors(value) as Iterable<TypeBoxError>, schema);
    const summary = details.map((d) => `${d.path} ${d.message}`).join("; ");
    throw badRequest(`invalid ${what}: ${summary}`, details);
  };
}

export type ReadResult<T> = { ok: true; value: T } | { ok: false; reason: string };
export type Reader<T extends TSchema> = (value: unknown) => ReadResult<Static<T>>;

/**
 * For values read back from the stream and the buckets: untrusted, and possibly written by
 * a newer version. Fields this version does not know are dropped (so a rolling upgrade
 * reads on); what remains must match the schema, or the reason it cannot be read is returned.
 */
export function reader<T extends TSchema>(schema: T): Reader<T> {
  const compiled = Compile(schema);
  return (value) => {
    if (typeof value !== "object" || value === null) return { ok: false, reason: `${value === null ? "null" : typeof value} where an object belongs` };
    if (compiled.Check(value)) return { ok: true, value }; // the common case: exactly this version's shape
    const cleaned = Value.Clean(schema, value); // in place: callers pass a freshly parsed value
    if (compiled.Check(cleaned)) return { ok: true, value: cleaned };
    const details = toDetails(compiled.Errors(cleaned) as Iterable<TypeBoxError>, schema).slice(0, 3);
    return { ok: false, reason: details.map((d) => `${d.path} ${d.message}`).join("; ") };
  };
}

/** A request body as both faces take it: empty is {}, anything else must be a JSON object. */
export function parseRequestBody(text: string): Record<string, unknown> {
  if (text.length === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not JSON (${(err as Error).message}); send a JSON object such as {}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("request body must be a JSON object; send {} when nothing is needed");
  }
  return body as Record<string, unknown>;
}
