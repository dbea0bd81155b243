/**
 * The HTTP face's routes, made from the operation table (contract/operations.ts): seed 002's
 * `/registry-svc` paths, and the rest of the operations in the same style. Each route is one
 * operation's, and its request is made of the HTTP request as the row says: the JSON body, the
 * query string, or a path parameter.
 */
import type { TSchema } from "typebox";
import { operationRows, type OperationName, type RequestSource } from "../contract/operations.ts";

export const API_PREFIX = "/registry-svc";

/** Prometheus's HTTP service discovery: instance.list by these filters (`tag` may repeat), as target groups (prometheus.ts). */
export const PROMETHEUS_TARGETS = { path: "/prometheus/targets", operation: "instance.list", filters: ["slug", "tag", "status"] } as const;

export type HttpRequestParts = { body: Record<string, unknown>; query: Record<string, string | string[]>; params: Record<string, string> };

export type Route = {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  operation: OperationName;
  /** The operation's NATS subject, by which metrics and errors name it. */
  subject: string;
  /** It changes state, so it needs `application/json` (guard.ts); a POST that only reads (the seed's `curl -X POST /registry-svc/nodes`) does not without a body. */
  changes: boolean;
  request(parts: HttpRequestParts): unknown;
};

type Kind = "number" | "boolean" | "list" | "numberOrString" | "string";

type SchemaShape = { type?: string; anyOf?: { type?: string }[] } | undefined;

function kindOf(s: SchemaShape): Kind {
  if (s?.type === "integer" || s?.type === "number") return "number";
  if (s?.type === "boolean") return "boolean";
  if (s?.type === "array") return "list";
  if (s?.anyOf?.some((o) => o.type === "integer")) return "numberOrString";
  return "string";
}

/**
 * A query string as the operation's request: each value takes its field's type (numbers,
 * true/false, lists as repeated parameters or comma-separated). Values that do not convert,
 * and fields the schema does not know, are left for the operation's validation to refuse.
 */
export function fromQuery(schema: TSchema, query: Record<string, string | string[]>): Record<string, unknown> {
  const properties = (schema as { properties?: Record<string, SchemaShape> }).properties ?? {};
  const own = (name: string) => (Object.hasOwn(properties, name) ? properties[name] : undefined);
  const request: Record<string, unknown> = {};
  // Own properties even for names like __proto__, so that validation refuses them as unknown fields.
  const set = (name: string, value: unknown) => Object.defineProperty(request, name, { value, enumerable: true, writable: true, configurable: true });
  for (const [param, raw] of Object.entries(query)) {
    // An object field's pairs as deepObject parameters: metadata[version]=2.
    const pair = /^([A-Za-z]+)\[(.*)\]$/.exec(param);
    if (pair && own(pair[1]!)?.type === "object") {
      const object = (request[pair[1]!] ??= Object.create(null)) as unknown;
      // Beside a plain `metadata=x` the pairs are dropped; validation refuses the string.
      if (typeof object === "object" && object !== null) {
        Object.defineProperty(object, pair[2]!, { value: Array.isArray(raw) ? raw.at(-1) : raw, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const name = param;
    const kind = kindOf(own(name));
    if (kind === "list") {
      set(name, (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(",")).filter((v) => v !== ""));
      continue;
    }
    const value = Array.isArray(raw) ? raw.at(-1)! : raw;
    if ((kind === "number" || kind === "numberOrString") && /^-?\d+(\.\d+)?$/.test(value)) set(name, Number(value));
    else if (kind === "boolean" && (value === "true" || value === "false")) set(name, value === "true");
    else set(name, value);
  }
  return request;
}

/** A node named in a path: its percent-encoded URL (seed 002's `DELETE /node/{url}`) or its id. */
const nodeRef = (ref: string) => (ref.includes("://") ? { url: ref } : { id: ref });

const SOURCES: Record<RequestSource, (schema: TSchema) => (parts: HttpRequestParts) => unknown> = {
  body: () => ({ body }) => body,
  query: (schema) => ({ query }) => fromQuery(schema, query),
  id: () => ({ params }) => ({ id: params.id }),
  nodeRef: () => ({ params }) => nodeRef(params.ref!),
  bodyAndId: () => ({ body, params }) => ({ ...body, id: params.id }),
  none: () => () => ({}),
};

export const routes: Route[] = operationRows.flatMap(([operation, op]) =>
  op.http.map((r) => ({ method: r.method, path: r.path, operation, subject: op.subject, changes: op.changes, request: SOURCES[r.from](op.request) })),
);
