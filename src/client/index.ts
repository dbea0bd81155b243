/**
 * The registry's client library: everything a service needs, in one file.
 *
 *   import { connect } from "@nats-io/transport-node";
 *   import { RegistryClient } from "registry";
 *   const registry = new RegistryClient(await connect({ servers: "127.0.0.1:4222" }));
 *   const users = await registry.discover("user-svc");
 *   const target = users.pick();
 */
export { RegistryClient } from "./client.ts";
export type { ClientOptions } from "./client.ts";
export type { Discovery, DiscoveryOptions, PickFilter } from "./discovery.ts";
export type { RttBounds } from "./rtt.ts";
export type { SelfRegistration } from "./selfRegister.ts";
export { RegistryError } from "../contract/errors.ts";
export type { ErrorCode, ErrorDetail } from "../contract/errors.ts";
export type { ExpiryProtection, HealthStatus, NodeRef, PolicyReload, ServiceSummary } from "../contract/api.ts";
export type {
  Definition,
  HealthCheck,
  Instance,
  InstanceStatus,
  ListInstancesRequest,
  Node,
  RegisterInstanceRequest,
  SelectNodesRequest,
  StatusCause,
  HistoryEntry,
  HistoryRequest,
} from "../contract/schemas.ts";
