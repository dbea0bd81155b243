/**
 * The registry's operations: each request subject of DESIGN.md with its request schema and
 * the API call that answers it. The NATS service and the HTTP face both serve this table, so
 * the two cannot answer the same request differently.
 */
import type { RegistryApi, RequestContext } from "./api.ts";
import * as S from "./schemas.ts";
import { validator } from "./validate.ts";

export type Operation = {
  /** The subject after the prefix, e.g. `instance.register`. */
  subject: string;
  schema: string;
  handle(api: RegistryApi, body: unknown, ctx: RequestContext): Promise<unknown>;
};

const exactlyOneRef = (ref: { id?: string; url?: string }) =>
  (ref.id === undefined) === (ref.url === undefined) ? [{ path: "/", message: "needs exactly one of id and url" }] : [];

const v = {
  byId: validator(S.ByIdRequest, "request"),
  empty: validator(S.EmptyRequest, "request"),
  saveDefinition: validator(S.SaveDefinitionRequest, "definition"),
  register: validator(S.RegisterInstanceRequest, "instance"),
  listInstances: validator(S.ListInstancesRequest, "instance filter"),
  listNodes: validator(S.ListNodesRequest, "request"),
  listDefinitions: validator(S.ListDefinitionsRequest, "request"),
  nodeRef: validator(S.NodeRefRequest, "node reference", exactlyOneRef),
  select: validator(S.SelectNodesRequest, "node requirements"),
  reportStatus: validator(S.ReportStatusRequest, "status report"),
  checked: validator(S.CheckResultRequest, "check result"),
  protection: validator(S.ProtectionRequest, "request"),
  history: validator(S.HistoryRequest, "history request", (r) =>
    r.id !== undefined && r.entity === undefined ? [{ path: "/entity", message: "is required with id: definition, instance or node" }] : [],
  ),
};

export const operations: Operation[] = [
  { subject: "definition.save", schema: "SaveDefinitionRequest", handle: (api, b, ctx) => api.saveDefinition(v.saveDefinition(b), ctx) },
  { subject: "definition.get", schema: "ByIdRequest", handle: (api, b, ctx) => api.getDefinition(v.byId(b), ctx) },
  { subject: "definition.list", schema: "ListDefinitionsRequest", handle: (api, b, ctx) => api.listDefinitions(v.listDefinitions(b), ctx) },
  { subject: "definition.remove", schema: "ByIdRequest", handle: (api, b, ctx) => api.removeDefinition(v.byId(b), ctx) },
  { subject: "instance.register", schema: "RegisterInstanceRequest", handle: (api, b, ctx) => api.registerInstance(v.register(b), ctx) },
  { subject: "instance.get", schema: "ByIdRequest", handle: (api, b, ctx) => api.getInstance(v.byId(b), ctx) },
  { subject: "instance.list", schema: "ListInstancesRequest", handle: (api, b, ctx) => api.listInstances(v.listInstances(b), ctx) },
  { subject: "instance.remove", schema: "ByIdRequest", handle: (api, b, ctx) => api.removeInstance(v.byId(b), ctx) },
  { subject: "instance.status", schema: "ReportStatusRequest", handle: (api, b, ctx) => api.reportStatus(v.reportStatus(b), ctx) },
  { subject: "instance.renew", schema: "ByIdRequest", handle: (api, b, ctx) => api.renewLease(v.byId(b), ctx) },
  { subject: "instance.checked", schema: "CheckResultRequest", handle: (api, b, ctx) => api.recordCheck(v.checked(b), ctx) },
  { subject: "node.list", schema: "ListNodesRequest", handle: (api, b, ctx) => api.listNodes(v.listNodes(b), ctx) },
  { subject: "node.get", schema: "NodeRefRequest", handle: (api, b, ctx) => api.getNode(v.nodeRef(b), ctx) },
  { subject: "node.remove", schema: "NodeRefRequest", handle: (api, b, ctx) => api.removeNode(v.nodeRef(b), ctx) },
  { subject: "node.self", schema: "EmptyRequest", handle: (api, b, ctx) => api.selfNode(v.empty(b), ctx) },
  { subject: "node.select", schema: "SelectNodesRequest", handle: (api, b, ctx) => api.selectNodes(v.select(b), ctx) },
  { subject: "health.status", schema: "EmptyRequest", handle: (api, b, ctx) => api.healthStatus(v.empty(b), ctx) },
  { subject: "history", schema: "HistoryRequest", handle: (api, b, ctx) => api.history(v.history(b), ctx) },
  { subject: "health.protection", schema: "ProtectionRequest", handle: (api, b, ctx) => api.switchProtection(v.protection(b), ctx) },
  { subject: "policy.reload", schema: "EmptyRequest", handle: (api, b, ctx) => api.reloadPolicy(v.empty(b), ctx) },
];
