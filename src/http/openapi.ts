/**
 * `GET /registry-svc/openapi.json`: an OpenAPI 3.1 document of the HTTP face, made from the
 * operation table (contract/operations.ts) and its TypeBox schemas (OpenAPI 3.1 takes JSON
 * Schema 2020-12 as it is): each operation's request as its body or its query parameters, its
 * reply, the permission it needs, and ErrorReply for every refusal.
 */
import type { TSchema } from "typebox";
import { OPERATIONS } from "../contract/operations.ts";
import { publishedName, publishedSchemas } from "../contract/published.ts";
import { API_PREFIX, PROMETHEUS_TARGETS, routes, type Route } from "./routes.ts";

/** A published schema by reference; one that is not published, as it is. */
const schemaRef = (schema: TSchema) => {
  const name = publishedName(schema);
  return name ? { $ref: `#/components/schemas/${name}` } : schema;
};
const propertiesOf = (schema: TSchema) => (schema as { properties?: Record<string, unknown> }).properties ?? {};

function operationObject(route: Route) {
  const op = OPERATIONS[route.operation];
  const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1]!, in: "path", required: true, schema: { type: "string" } }));
  const queryParams =
    route.method === "GET" && pathParams.length === 0
      ? Object.entries(propertiesOf(op.request)).map(([name, schema]) => ({ name, in: "query", required: false, schema, ...(name === "tags" ? { style: "form", explode: true } : name === "metadata" ? { style: "deepObject", explode: true } : {}) }))
      : [];
  // An operation that takes nothing (an empty request) has no body to describe.
  const takesBody = (route.method === "PUT" || route.method === "POST") && Object.keys(propertiesOf(op.request)).length > 0;
  return {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/[/:](\w)/g, (_, c: string) => c.toUpperCase()).replace(/\W/g, "")}`,
    summary: `${op.subject} (the NATS subject <prefix>.${op.subject})`,
    "x-permission": op.permission === "any" ? "none: every caller may ask" : `registry-svc:${op.permission}`,
    ...(pathParams.length + queryParams.length > 0 ? { parameters: [...pathParams, ...queryParams] } : {}),
    ...(takesBody ? { requestBody: { required: false, content: { "application/json": { schema: schemaRef(op.request) } } } } : {}),
    responses: {
      "200": { description: "the operation's reply", content: { "application/json": { schema: schemaRef(op.reply) } } },
      default: { description: "a refusal or a failure: the HTTP status is error.code", content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorReply" } } } },
    },
  };
}

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `${API_PREFIX}${route.path.replace(/:(\w+)/g, "{$1}")}`;
    (paths[path] ??= {})[route.method.toLowerCase()] = operationObject(route);
  }
  paths[`${API_PREFIX}${PROMETHEUS_TARGETS.path}`] = {
    get: {
      operationId: "getPrometheusTargets",
      summary: "instance.list as Prometheus's HTTP service discovery (http_sd_configs) reads it",
      "x-permission": "registry-svc:instance:view",
      parameters: PROMETHEUS_TARGETS.filters.map((name) => ({ name, in: "query", required: false, schema: { type: "string" }, ...(name === "tag" ? { style: "form", explode: true } : {}) })),
      responses: {
        "200": { description: "the target groups", content: { "application/json": { schema: { $ref: "#/components/schemas/PrometheusTargetGroups" } } } },
        default: { description: "a refusal or a failure: the HTTP status is error.code", content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorReply" } } } },
      },
    },
  };
  return {
    openapi: "3.1.0",
    info: { title: "registry", version, description: "The registry's HTTP face: the same operations as its NATS subjects (docs/API.md)." },
    paths,
    components: { schemas: publishedSchemas },
  };
}
