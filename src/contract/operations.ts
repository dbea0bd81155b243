/**
 * The registry's operations, one row each: its NATS subject, its request and reply schemas,
 * the permission it needs, whether it changes state, and its HTTP routes. The API's types,
 * the NATS service, the HTTP routes, the OpenAPI document and the client are all derived from
 * this table, so a new operation is one row plus its handler, and a handler answering another
 * shape than its row's reply does not compile.
 */
import type { Static, TSchema } from "typebox";
import type { RequestContext } from "./api.ts";
import type { ErrorDetail } from "./errors.ts";
import type { Permission } from "./permissions.ts";
import { validator } from "./validate.ts";
import * as R from "./replies.ts";
import * as S from "./schemas.ts";

/**
 * Where an HTTP route takes the operation's request from: the JSON body, the query string,
 * the path's `:id`, the path's `:ref` (a node's id or its percent-encoded URL), the body with
 * the path's `:id`, or nothing.
 */
export type RequestSource = "body" | "query" | "id" | "nodeRef" | "bodyAndId" | "none";
export type HttpRoute = { method: "GET" | "PUT" | "POST" | "DELETE"; path: string; from: RequestSource };

export type Operation<Req extends TSchema = TSchema, Reply extends TSchema = TSchema> = {
  /** The subject after the prefix, e.g. `instance.register`. */
  subject: string;
  request: Req;
  /** What the request is called in errors ("invalid instance: ..."). */
  requestIs: string;
  /** A rule the schema cannot say, checked after it. */
  rule?: (request: Static<Req>) => ErrorDetail[];
  reply: Reply;
  /** What a caller needs for it (the history's depends on what it asks for: see domain/access.ts); `any`: every caller may ask. */
  permission: Permission | "any";
  /**
   * It changes state: the client sends it with a Nats-Msg-Id and retries it once with the
   * same id, and over HTTP it needs `Content-Type: application/json` (a read sent as POST does not).
   */
  changes: boolean;
  http: readonly HttpRoute[];
};

const row = <Req extends TSchema, Reply extends TSchema>(operation: Operation<Req, Reply>) => operation;

const exactlyOneRef = (ref: { id?: string; url?: string }) =>
  (ref.id === undefined) === (ref.url === undefined) ? [{ path: "/", message: "needs exactly one of id and url" }] : [];

const entityWithId = (r: { id?: string; entity?: string }) => (r.id !== undefined && r.entity === undefined ? [{ path: "/entity", message: "is required with id: definition, instance or node" }] : []);

export const OPERATIONS = {
  saveDefinition: row({ subject: "definition.save", request: S.SaveDefinitionRequest, requestIs: "definition", reply: R.DefinitionReply, permission: "definition:edit", changes: true, http: [{ method: "PUT", path: "/definition", from: "body" }] }),
  getDefinition: row({ subject: "definition.get", request: S.ByIdRequest, requestIs: "request", reply: R.DefinitionReply, permission: "definition:view", changes: false, http: [{ method: "GET", path: "/definition/:id", from: "id" }] }),
  listDefinitions: row({ subject: "definition.list", request: S.ListDefinitionsRequest, requestIs: "request", reply: R.DefinitionPage, permission: "definition:view", changes: false, http: [{ method: "GET", path: "/definitions", from: "query" }] }),
  removeDefinition: row({ subject: "definition.remove", request: S.ByIdRequest, requestIs: "request", reply: R.EmptyReply, permission: "definition:delete", changes: true, http: [{ method: "DELETE", path: "/definition/:id", from: "id" }] }),

  registerInstance: row({ subject: "instance.register", request: S.RegisterInstanceRequest, requestIs: "instance", reply: R.RegistrationReply, permission: "instance:edit", changes: true, http: [{ method: "PUT", path: "/instance", from: "body" }] }),
  getInstance: row({ subject: "instance.get", request: S.ByIdRequest, requestIs: "request", reply: R.InstanceReply, permission: "instance:view", changes: false, http: [{ method: "GET", path: "/instance/:id", from: "id" }] }),
  listInstances: row({ subject: "instance.list", request: S.ListInstancesRequest, requestIs: "instance filter", reply: R.InstancePage, permission: "instance:view", changes: false, http: [{ method: "GET", path: "/instances", from: "query" }] }),
  removeInstance: row({ subject: "instance.remove", request: S.ByIdRequest, requestIs: "request", reply: R.EmptyReply, permission: "instance:delete", changes: true, http: [{ method: "DELETE", path: "/instance/:id", from: "id" }] }),
  reportStatus: row({ subject: "instance.status", request: S.ReportStatusRequest, requestIs: "status report", reply: R.InstanceReply, permission: "instance:edit", changes: true, http: [{ method: "PUT", path: "/instance/:id/status", from: "bodyAndId" }] }),
  renewLease: row({ subject: "instance.renew", request: S.ByIdRequest, requestIs: "request", reply: R.InstanceReply, permission: "instance:edit", changes: true, http: [{ method: "POST", path: "/instance/:id/renew", from: "id" }] }),
  recordCheck: row({ subject: "instance.checked", request: S.CheckResultRequest, requestIs: "check result", reply: R.InstanceReply, permission: "check:report", changes: true, http: [{ method: "POST", path: "/instance/:id/checked", from: "bodyAndId" }] }),

  listServices: row({ subject: "service.list", request: S.ListServicesRequest, requestIs: "request", reply: R.ServicePage, permission: "instance:view", changes: false, http: [{ method: "GET", path: "/services", from: "query" }] }),

  // The POST is seed 002's `curl -X POST /registry-svc/nodes` with the ids in the body.
  listNodes: row({ subject: "node.list", request: S.ListNodesRequest, requestIs: "request", reply: R.NodePage, permission: "node:view", changes: false, http: [{ method: "GET", path: "/nodes", from: "query" }, { method: "POST", path: "/nodes", from: "body" }] }),
  getNode: row({ subject: "node.get", request: S.NodeRefRequest, requestIs: "node reference", rule: exactlyOneRef, reply: R.NodeReply, permission: "node:view", changes: false, http: [{ method: "GET", path: "/node/:ref", from: "nodeRef" }] }),
  removeNode: row({ subject: "node.remove", request: S.NodeRefRequest, requestIs: "node reference", rule: exactlyOneRef, reply: R.EmptyReply, permission: "node:delete", changes: true, http: [{ method: "DELETE", path: "/node/:ref", from: "nodeRef" }] }),
  selfNode: row({ subject: "node.self", request: S.EmptyRequest, requestIs: "request", reply: R.NodeReply, permission: "node:view", changes: false, http: [{ method: "GET", path: "/node/self", from: "none" }] }),
  selectNodes: row({ subject: "node.select", request: S.SelectNodesRequest, requestIs: "node requirements", reply: R.Placement, permission: "node:view", changes: false, http: [{ method: "POST", path: "/nodes/select", from: "body" }] }),

  healthStatus: row({ subject: "health.status", request: S.EmptyRequest, requestIs: "request", reply: R.HealthStatus, permission: "health:view", changes: false, http: [{ method: "GET", path: "/health", from: "none" }] }),
  switchProtection: row({ subject: "health.protection", request: S.ProtectionRequest, requestIs: "request", reply: R.ProtectionReply, permission: "health:edit", changes: true, http: [{ method: "PUT", path: "/health/protection", from: "body" }] }),
  history: row({ subject: "history", request: S.HistoryRequest, requestIs: "history request", rule: entityWithId, reply: R.HistoryPage, permission: "audit:view", changes: false, http: [{ method: "GET", path: "/history", from: "query" }] }),
  // What the caller may do, so that a page or a CLI offers only that: every caller may ask.
  accessSelf: row({ subject: "access.self", request: S.EmptyRequest, requestIs: "request", reply: R.AccessReply, permission: "any", changes: false, http: [{ method: "GET", path: "/access", from: "none" }] }),
  reloadPolicy: row({ subject: "policy.reload", request: S.EmptyRequest, requestIs: "request", reply: R.PolicyReloads, permission: "policy:reload", changes: true, http: [{ method: "POST", path: "/policy/reload", from: "none" }] }),
} as const;

export type OperationName = keyof typeof OPERATIONS;
export type RequestOf<K extends OperationName> = Static<(typeof OPERATIONS)[K]["request"]>;
export type ReplyOf<K extends OperationName> = Static<(typeof OPERATIONS)[K]["reply"]>;

/** The registry's API: one method per row, typed by the row's schemas. */
export type RegistryApi = { [K in OperationName]: (req: RequestOf<K>, ctx: RequestContext) => Promise<ReplyOf<K>> };

/** The rows with their names, in table order. */
export const operationRows = Object.entries(OPERATIONS) as [OperationName, Operation][];

const requestReaders = new Map<OperationName, (body: unknown) => unknown>();
/** The row's request as checked: its schema, then its rule; a 400 naming each problem otherwise. Compiled on first use. */
function readRequest<K extends OperationName>(name: K, body: unknown): RequestOf<K> {
  let read = requestReaders.get(name);
  if (!read) {
    const op: Operation = OPERATIONS[name];
    requestReaders.set(name, (read = validator(op.request, op.requestIs, op.rule)));
  }
  // The reader kept under a row's name is that row's validator (TypeScript cannot follow a key's type through a Map).
  return read(body) as RequestOf<K>;
}

/** Answers one operation with `api`: the body checked against the row, then the row's method. */
export function callOperation<K extends OperationName>(api: RegistryApi, name: K, body: unknown, ctx: RequestContext): Promise<ReplyOf<K>> {
  const method: RegistryApi[K] = api[name];
  return method(readRequest(name, body), ctx);
}
