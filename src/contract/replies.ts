/**
 * What each operation answers, as TypeBox schemas: the operation table (operations.ts) names
 * one per row, the API's types are derived from them (so a handler answering another shape does
 * not compile), and the OpenAPI document and `schemas/` publish them.
 */
import Type from "typebox";
import { PERMISSIONS } from "./permissions.ts";
import { Definition, ExpiryProtection, HistoryEntry, Instance, InstanceStatus, Node } from "./schemas.ts";

const Next = Type.Optional(Type.String({ description: "the `after` of the next page; absent on the last" }));


/** A node that does not fit: each requirement it fails, as the request's field, what it asks and what the node has. */
export const NodeRefusal = Type.Object({
  node: Type.String(),
  failed: Type.Array(
    Type.Object({
      requirement: Type.String(),
      needs: Type.Union([Type.Number(), Type.String()]),
      has: Type.Union([Type.Number(), Type.String(), Type.Null()]),
    }),
  ),
});
export type NodeRefusal = Type.Static<typeof NodeRefusal>;

/** What one registry process said when asked to read its policy again. */
export const PolicyReload = Type.Object({
  process: Type.String(),
  pid: Type.Integer(),
  ok: Type.Boolean(),
  accounts: Type.Optional(Type.Integer()),
  error: Type.Optional(Type.String()),
});
export type PolicyReload = Type.Static<typeof PolicyReload>;

export const HealthStatus = Type.Object(
  {
    protection: ExpiryProtection,
    leases: Type.Object({ total: Type.Integer(), lapsed: Type.Integer() }),
    events: Type.Object(
      { bytes: Type.Integer(), maxBytes: Type.Integer(), reserveBytes: Type.Integer(), messages: Type.Integer() },
      { description: "the event stream's size against its limit (REGISTRY_EVENTS_MAX_BYTES) and the reserve past it for the registry's own liveness writes" },
    ),
    heartbeats: Type.Object(
      { nodes: Type.Integer(), maxNodes: Type.Integer(), dropped: Type.Integer() },
      { description: "the nodes whose heartbeats this process folds, the most nodes that join (REGISTRY_HEARTBEAT_SUBJECTS), and the heartbeats this process dropped (new nodes past that limit, or writes at their limit)" },
    ),
    storage: Type.Object(
      {
        changes: Type.Integer(),
        lastChange: Type.Optional(
          Type.Object({
            at: Type.String(),
            stream: Type.String(),
            missing: Type.Boolean(),
            fields: Type.Array(Type.String()),
            dropsHistory: Type.Array(Type.String()),
            restored: Type.Boolean(),
          }),
        ),
      },
      { description: "changes to the registry's streams and buckets made outside it, found by this process's storage check, and the last one" },
    ),
    unreadable: Type.Object({ kvEntries: Type.Integer(), events: Type.Integer(), heartbeats: Type.Integer(), snapshots: Type.Integer() }, { description: "values this process could not read and skipped, by kind" }),
  },
  { description: "leases, expiry protection, the streams' use and what could not be read (docs/API.md)" },
);
export type HealthStatus = Type.Static<typeof HealthStatus>;

/** A service as the list of services shows it: its instances counted, in all and by status. */
export const ServiceSummary = Type.Object({
  slug: Type.String(),
  instances: Type.Integer({ description: "every instance of the slug" }),
  byStatus: Type.Record(InstanceStatus, Type.Integer(), { description: "how many are in each status" }),
});
export type ServiceSummary = Type.Static<typeof ServiceSummary>;

export const EmptyReply = Type.Object({});
export const AccessReply = Type.Object({
  who: Type.String({ description: "who the registry takes the caller for" }),
  permissions: Type.Array(Type.Enum([...PERMISSIONS]), { description: "what it may do (seed 002's registry-svc:<permission>)" }),
  ownSlug: Type.Optional(Type.String({ description: "a service's: instance:edit and instance:delete apply to the instances of this slug only" })),
  setsStatusAs: Type.Union([Type.Literal("operator"), Type.Literal("instance")], { description: "the `by` its status reports may give: operator (admins, deployers), or instance (a service reports its own)" }),
});
export const DefinitionReply = Type.Object({ definition: Definition });
export const DefinitionPage = Type.Object({ definitions: Type.Array(Definition), next: Next });
export const RegistrationReply = Type.Object({
  instance: Instance,
  outcome: Type.Union([Type.Literal("registered"), Type.Literal("updated"), Type.Literal("unchanged")], {
    description: "what the registration did: a new instance, an update of the one at its URL (the fields it gave replaced, the rest kept), or nothing (it said what the registry had)",
  }),
  changed: Type.Optional(Type.Array(Type.String(), { description: "with updated: the fields it changed" })),
  movedFrom: Type.Optional(Type.Object({ slug: Type.String() }, { description: "the slug the instance had when this registration gave it another one" })),
});
export const InstanceReply = Type.Object({ instance: Instance });
export const InstancePage = Type.Object({
  instances: Type.Array(Instance),
  next: Next,
  versions: Type.Optional(Type.Record(Type.String(), Type.Integer(), { description: "with withVersions: each instance's version (the event sequence its entry reflects)" })),
});
export const ServicePage = Type.Object({ services: Type.Array(ServiceSummary), next: Next });
export const NodeReply = Type.Object({ node: Node });
export const NodePage = Type.Object({ nodes: Type.Array(Node), next: Next });
export const Placement = Type.Object({
  nodes: Type.Array(Node),
  refused: Type.Optional(Type.Array(NodeRefusal, { description: "with explain: the nodes that do not fit, each with the requirements it fails" })),
});
export const HistoryPage = Type.Object({ events: Type.Array(HistoryEntry), next: Type.Optional(Type.Integer({ description: "the `after` of the next page" })) });
export const ProtectionReply = Type.Object({ protection: ExpiryProtection });
export const PolicyReloads = Type.Object({
  processes: Type.Array(PolicyReload, { description: "each registry process that answered within 2 s: whether it read the policy, and how many accounts it has" }),
});


/** The replies published in `schemas/` and the OpenAPI document, by name. */
/** `GET /registry-svc/prometheus/targets`: Prometheus's HTTP service discovery format. */
export const PrometheusTargetGroups = Type.Array(
  Type.Object({
    targets: Type.Array(Type.String(), { description: "host:port, one per group" }),
    labels: Type.Record(Type.String({ pattern: "^__meta_registry_[A-Za-z0-9_]+$" }), Type.String(), {
      description: "__meta_registry_slug, _instance_id, _status, _tags (,a,b,), _node, _metadata_<key>",
    }),
  }),
  { description: "one target group per instance, as Prometheus's http_sd_configs reads them" },
);

export const replySchemas = {
  EmptyReply,
  AccessReply,
  PrometheusTargetGroups,
  DefinitionReply,
  DefinitionPage,
  RegistrationReply,
  InstanceReply,
  InstancePage,
  ServicePage,
  NodeReply,
  NodePage,
  Placement,
  HistoryPage,
  ProtectionReply,
  PolicyReloads,
  HealthStatus,
} as const;
