/**
 * The HTTP face's routes: seed 002's `/registry-svc` paths, and the rest of the operations in
 * the same style. Each route names the operation (the NATS subject) it is, and how its request
 * is made of the HTTP request: the JSON body, the query string, or a path parameter.
 */
import type { TSchema } from "typebox";
import * as S from "../contract/schemas.ts";

export const API_PREFIX = "/registry-svc";

export type HttpRequestParts = { body: Record<string, unknown>; query: Record<string, string | string[]>; params: Record<string, string> };

export type Route = {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  /** The operation's subject (contract/operations.ts). */
  subject: string;
  /**
   * A POST that only reads (the seed's `curl -X POST /registry-svc/nodes`): without a body it
   * needs no Content-Type. Every other PUT, POST and DELETE changes state and needs
   * `application/json` (guard.ts).
   */
  readOnly?: true;
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

const body = ({ body }: HttpRequestParts) => body;
const query = (schema: TSchema) => ({ query }: HttpRequestParts) => fromQuery(schema, query);
const id = ({ params }: HttpRequestParts) => ({ id: params.id });

export const routes: Route[] = [
  { method: "PUT", path: "/instance", subject: "instance.register", request: body },
  { method: "GET", path: "/instances", subject: "instance.list", request: query(S.ListInstancesRequest) },
  { method: "GET", path: "/instance/:id", subject: "instance.get", request: id },
  { method: "DELETE", path: "/instance/:id", subject: "instance.remove", request: id },
  { method: "PUT", path: "/instance/:id/status", subject: "instance.status", request: (p) => ({ ...p.body, id: p.params.id }) },
  { method: "POST", path: "/instance/:id/renew", subject: "instance.renew", request: id },
  { method: "POST", path: "/instance/:id/checked", subject: "instance.checked", request: (p) => ({ ...p.body, id: p.params.id }) },
  { method: "PUT", path: "/definition", subject: "definition.save", request: body },
  { method: "GET", path: "/definitions", subject: "definition.list", request: query(S.ListDefinitionsRequest) },
  { method: "GET", path: "/definition/:id", subject: "definition.get", request: id },
  { method: "DELETE", path: "/definition/:id", subject: "definition.remove", request: id },
  { method: "POST", path: "/nodes", subject: "node.list", request: body, readOnly: true },
  { method: "GET", path: "/nodes", subject: "node.list", request: query(S.ListNodesRequest) },
  { method: "POST", path: "/nodes/select", subject: "node.select", request: body, readOnly: true },
  { method: "GET", path: "/node/self", subject: "node.self", request: () => ({}) },
  { method: "GET", path: "/node/:ref", subject: "node.get", request: ({ params }) => nodeRef(params.ref!) },
  { method: "DELETE", path: "/node/:ref", subject: "node.remove", request: ({ params }) => nodeRef(params.ref!) },
  { method: "GET", path: "/history", subject: "history", request: query(S.HistoryRequest) },
  { method: "GET", path: "/health", subject: "health.status", request: () => ({}) },
  { method: "PUT", path: "/health/protection", subject: "health.protection", request: body },
  { method: "POST", path: "/policy/reload", subject: "policy.reload", request: () => ({}) },
];
