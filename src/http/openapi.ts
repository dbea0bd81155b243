/**
 * `GET /registry-svc/openapi.json`: an OpenAPI 3.1 document of the HTTP face, made from the
 * routes table and the TypeBox schemas (OpenAPI 3.1 takes JSON Schema 2020-12 as it is): each
 * operation's request as its body or its query parameters, its reply, and ErrorReply for every
 * refusal.
 */
import { operations } from "../contract/operations.ts";
import { wireSchemas } from "../contract/schemas.ts";
import { API_PREFIX, routes, type Route } from "./routes.ts";

const ref = (name: keyof typeof wireSchemas) => ({ $ref: `#/components/schemas/${name}` });
const object = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({ type: "object", properties, required });
const page = (items: string, entity: keyof typeof wireSchemas) => object({ [items]: { type: "array", items: ref(entity) }, next: { type: "string" } }, [items]);

/** What each operation answers. */
const replies: Record<string, unknown> = {
  "definition.save": object({ definition: ref("Definition") }),
  "definition.get": object({ definition: ref("Definition") }),
  "definition.list": page("definitions", "Definition"),
  "definition.remove": object({}),
  "instance.register": object({ instance: ref("Instance"), movedFrom: object({ slug: { type: "string" } }) }, ["instance"]),
  "instance.get": object({ instance: ref("Instance") }),
  "instance.list": page("instances", "Instance"),
  "instance.remove": object({}),
  "instance.status": object({ instance: ref("Instance") }),
  "instance.renew": object({ instance: ref("Instance") }),
  "instance.checked": object({ instance: ref("Instance") }),
  "node.list": page("nodes", "Node"),
  "node.get": object({ node: ref("Node") }),
  "node.remove": object({}),
  "node.self": object({ node: ref("Node") }),
  "node.select": object({
    nodes: { type: "array", items: ref("Node") },
    refused: {
      type: "array",
      description: "with explain: the nodes that do not fit, each with the requirements it fails",
      items: object({ node: { type: "string" }, failed: { type: "array", items: object({ requirement: { type: "string" }, needs: {}, has: {} }) } }),
    },
  }, ["nodes"]),
  "health.status": { type: "object", description: "leases, expiry protection, event stream usage and unreadable data counts (docs/API.md)" },
  history: object({ events: { type: "array", items: { type: "object" } }, next: { type: "integer" } }, ["events"]),
  "health.protection": object({ protection: { type: "object" } }),
  "policy.reload": object({
    processes: {
      type: "array",
      description: "each registry process that answered within 2 s: whether it read the policy, and how many accounts it has",
      items: object({ process: { type: "string" }, pid: { type: "integer" }, ok: { type: "boolean" }, accounts: { type: "integer" }, error: { type: "string" } }, ["process", "pid", "ok"]),
    },
  }),
};

const schemaNamed = (name: string) => (wireSchemas as Record<string, { properties?: Record<string, unknown>; description?: string }>)[name];

function operationObject(route: Route) {
  const operation = operations.find((o) => o.subject === route.subject)!;
  const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1]!, in: "path", required: true, schema: { type: "string" } }));
  const takesQuery = route.method === "GET" && Object.keys(schemaNamed(operation.schema)?.properties ?? {}).length > 0 && pathParams.length === 0;
  const queryParams = takesQuery
    ? Object.entries(schemaNamed(operation.schema)!.properties!).map(([name, schema]) => ({ name, in: "query", required: false, schema, ...(name === "tags" ? { style: "form", explode: true } : name === "metadata" ? { style: "deepObject", explode: true } : {}) }))
    : [];
  // An operation that takes nothing (EmptyRequest, not among the wire schemas) has no body to describe.
  const takesBody = (route.method === "PUT" || route.method === "POST") && schemaNamed(operation.schema) !== undefined;
  return {
    operationId: `${route.method.toLowerCase()}${route.path.replace(/[/:](\w)/g, (_, c: string) => c.toUpperCase()).replace(/\W/g, "")}`,
    summary: `${route.subject} (the NATS subject <prefix>.${route.subject})`,
    ...(pathParams.length + queryParams.length > 0 ? { parameters: [...pathParams, ...queryParams] } : {}),
    ...(takesBody ? { requestBody: { required: false, content: { "application/json": { schema: { $ref: `#/components/schemas/${operation.schema}` } } } } } : {}),
    responses: {
      "200": { description: "the operation's reply", content: { "application/json": { schema: replies[route.subject] ?? { type: "object" } } } },
      default: { description: "a refusal or a failure: the HTTP status is error.code", content: { "application/json": { schema: ref("ErrorReply") } } },
    },
  };
}

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `${API_PREFIX}${route.path.replace(/:(\w+)/g, "{$1}")}`;
    (paths[path] ??= {})[route.method.toLowerCase()] = operationObject(route);
  }
  return {
    openapi: "3.1.0",
    info: { title: "registry", version, description: "The registry's HTTP face: the same operations as its NATS subjects (docs/API.md)." },
    paths,
    components: { schemas: wireSchemas },
  };
}
