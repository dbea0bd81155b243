/**
 * The TypeBox definitions of every payload on the wire. `schemas/*.json` is generated
 * from `wireSchemas` below (`make schemas`); a test fails when the files drift.
 */
import Type from "typebox";
import { ID_PATTERN, SLUG_PATTERN } from "./ids.ts";
import { CHECK_PATH_PATTERN, IP_PATTERN, LIMITS, NODE_URL_PATTERN, PRINTABLE_PATTERN } from "./limits.ts";
import { AGO_PATTERN } from "./pastTimes.ts";

const strict = { additionalProperties: false } as const;

export const Id = Type.String({ pattern: ID_PATTERN, description: "1-128 of A-Z a-z 0-9 - _" });
export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const NonEmpty = Type.String({ minLength: 1 });
/** A string of 1 to `max` characters. */
const Text = (max: number, opts: object = {}) => Type.String({ minLength: 1, maxLength: max, ...opts });
/** A string of at most `max` characters, possibly empty. */
const MaybeText = (max: number) => Type.String({ maxLength: max });
/** A URL-like string: printable ASCII without spaces, at most the URL length (the address rules check the rest). */
const UrlText = Text(LIMITS.urlLength, { pattern: PRINTABLE_PATTERN });
const Timestamp = Type.String({ format: "date-time", description: "RFC 3339, UTC" });
/** A moment in the past: a time, or a duration back from the request's arrival (pastTimes.ts). */
const PastTime = Type.Union([Timestamp, Type.String({ pattern: AGO_PATTERN })], {
  description: "an RFC 3339 time, or a duration back from now: 90s, 10m, 1h, 7d",
  errorMessage: "must be an RFC 3339 time (2026-11-24T10:00:00Z) or a duration back from now (90s, 10m, 1h, 7d)",
});

// ---------------------------------------------------------------- definitions

export const Image = Type.Object(
  {
    name: Text(LIMITS.urlLength),
    internalPorts: Type.Optional(Type.Array(Port, { maxItems: LIMITS.ports })),
    port: Type.Optional(Port), // the older form of 000_aef21b18c04bd9b2.txt
  },
  strict,
);

export const Repository = Type.Object(
  {
    url: Text(LIMITS.urlLength),
    version: Type.Optional(MaybeText(LIMITS.shortText)),
    buildContext: Type.Optional(MaybeText(LIMITS.text)),
    containerFile: Type.Optional(MaybeText(LIMITS.text)),
    internalPorts: Type.Optional(Type.Array(Port, { maxItems: LIMITS.ports })),
  },
  strict,
);

export const PortMapping = Type.Object({ internal: Port, host: Port }, strict);
export const EnvVar = Type.Object({ key: Text(LIMITS.envarKeyLength), value: MaybeText(LIMITS.envarValueLength) }, strict);
export const ApiSpec = Type.Object(
  {
    url: Text(LIMITS.urlLength),
    protocolType: Type.Optional(MaybeText(LIMITS.shortText)),
    version: Type.Optional(MaybeText(LIMITS.shortText)),
    metadata: Type.Optional(Type.Record(MaybeText(LIMITS.shortText), MaybeText(LIMITS.text), { maxProperties: LIMITS.apiSpecMetadata })),
  },
  strict,
);
export const Client = Type.Object({ language: Text(LIMITS.shortText), url: Text(LIMITS.urlLength) }, strict);

/** What one instance of a definition needs: to place it (node.select) and to call it (the client's pick). */
export const Requirements = Type.Object(
  {
    cpuCores: Type.Optional(Type.Number({ minimum: 0, maximum: 100_000, description: "free CPU cores (may be fractional)" })),
    memoryBytes: Type.Optional(Type.Number({ minimum: 0, description: "free memory, bytes" })),
    diskBytes: Type.Optional(Type.Number({ minimum: 0, description: "free disk, bytes" })),
    gpuCount: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, description: "GPUs, each with gpuMemoryMiB free" })),
    gpuMemoryMiB: Type.Optional(Type.Number({ minimum: 0, description: "free memory on each of those GPUs, MiB" })),
    softRttMs: Type.Optional(Type.Number({ minimum: 0, maximum: 600_000, description: "callers prefer instances they reach within this round trip, ms" })),
    hardRttMs: Type.Optional(Type.Number({ minimum: 0, maximum: 600_000, description: "callers never use an instance beyond this round trip, ms" })),
  },
  strict,
);
export type Requirements = Type.Static<typeof Requirements>;

export const Definition = Type.Object(
  {
    id: Id,
    image: Type.Optional(Image),
    repository: Type.Optional(Repository),
    hostPort: Type.Optional(Port), // the older form of 000_aef21b18c04bd9b2.txt
    ports: Type.Optional(Type.Array(PortMapping, { maxItems: LIMITS.ports })),
    envars: Type.Optional(Type.Array(EnvVar, { maxItems: LIMITS.envars })),
    apiSpecs: Type.Optional(Type.Array(ApiSpec, { maxItems: LIMITS.apiSpecs })),
    clients: Type.Optional(Type.Array(Client, { maxItems: LIMITS.clients })),
    requirements: Type.Optional(Requirements),
  },
  { ...strict, description: "Exactly one of image and repository." },
);
export type Definition = Type.Static<typeof Definition>;

// ---------------------------------------------------------------- instances

export const INSTANCE_STATUSES = ["Unknown", "Starting", "Healthy", "Degraded", "Unhealthy", "Unreachable", "Stopping"] as const;
export const InstanceStatus = Type.Enum([...INSTANCE_STATUSES]);
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

const Slug = Type.String({ pattern: SLUG_PATTERN, description: "the owning service; same rule as ids, but not `_`" });

export const HealthCheck = Type.Object(
  {
    type: Type.Enum(["http", "tcp"]),
    path: Type.Optional(
      Type.String({ maxLength: LIMITS.pathLength, pattern: CHECK_PATH_PATTERN, description: "http: the path probed on the instance's own origin, starting with / (default: the url itself)" }),
    ),
    expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: "http: the status that passes (default: any 2xx)" })),
    intervalMs: Type.Optional(Type.Integer({ minimum: LIMITS.check.intervalMs.min, maximum: LIMITS.check.intervalMs.max, description: "default 10000" })),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: LIMITS.check.timeoutMs.min, maximum: LIMITS.check.timeoutMs.max, description: "no answer within it: Unreachable (default 2000)" }),
    ),
    slowMs: Type.Optional(
      Type.Integer({ minimum: LIMITS.check.slowMs.min, maximum: LIMITS.check.slowMs.max, description: "a passing answer slower than this: Degraded (default timeoutMs / 2)" }),
    ),
    failuresBeforeChange: Type.Optional(
      Type.Integer({
        minimum: LIMITS.check.failuresBeforeChange.min,
        maximum: LIMITS.check.failuresBeforeChange.max,
        description: "consecutive failures before the status changes (default 2)",
      }),
    ),
  },
  strict,
);
export type HealthCheck = Type.Static<typeof HealthCheck>;

export const STATUS_CAUSES = [
  "registered",
  "reported",
  "operator",
  "check-passed",
  "check-slow",
  "check-failed",
  "check-unreachable",
  "lease-expired",
  "lease-renewed",
  "node-offline",
  "node-online",
] as const;
export type StatusCause = (typeof STATUS_CAUSES)[number];

/** An instance's metadata (version, zone, weight, protocol...): string to string, as Consul's Meta. */
export const METADATA_KEY_PATTERN = `^[A-Za-z0-9][A-Za-z0-9._/-]{0,${LIMITS.metadataKeyLength - 1}}$`;
export const Metadata = Type.Record(Type.String({ pattern: METADATA_KEY_PATTERN }), Type.String({ maxLength: LIMITS.metadataValueLength, pattern: PRINTABLE_PATTERN }), {
  maxProperties: LIMITS.metadataPairs,
  additionalProperties: false,
  description: `keys: a letter or digit, then letters, digits, . _ / - (at most ${LIMITS.metadataKeyLength}); values: printable text (at most ${LIMITS.metadataValueLength}); at most ${LIMITS.metadataPairs} pairs`,
});

const instanceFields = {
  url: Type.Optional(UrlText),
  scheme: Type.Optional(Type.String({ maxLength: LIMITS.schemeLength, pattern: "^[A-Za-z][A-Za-z0-9+.-]*$" })),
  host: Type.Optional(Text(LIMITS.hostLength, { pattern: PRINTABLE_PATTERN })),
  ip: Type.Optional(Type.String({ pattern: IP_PATTERN, description: "an IPv4 or IPv6 address" })),
  port: Type.Optional(Port),
  path: Type.Optional(Type.String({ maxLength: LIMITS.pathLength, pattern: PRINTABLE_PATTERN })),
  slug: Type.Optional(Slug),
  deploymentId: Type.Optional(Text(LIMITS.shortText)),
  nodeUrl: Type.Optional(UrlText),
  tags: Type.Optional(Type.Array(Text(LIMITS.tagLength, { pattern: PRINTABLE_PATTERN }), { maxItems: LIMITS.tags })),
  metadata: Type.Optional(Metadata),
  status: Type.Optional(InstanceStatus),
  details: Type.Optional(MaybeText(LIMITS.detailsLength)),
  check: Type.Optional(HealthCheck),
  ttlSeconds: Type.Optional(
    Type.Number({ minimum: LIMITS.ttlSeconds.min, maximum: LIMITS.ttlSeconds.max, description: "a lease: renew within it or the instance turns Unhealthy" }),
  ),
  graceSeconds: Type.Optional(
    Type.Number({ minimum: 0, maximum: LIMITS.graceSeconds.max, description: "after a lapsed lease, deregistered this much later (default 2 x ttlSeconds)" }),
  ),
};

export const RegisterInstanceRequest = Type.Object(
  { id: Type.Optional(Id), ...instanceFields },
  { ...strict, description: "url, or scheme + host or ip + port + path" },
);
export type RegisterInstanceRequest = Type.Static<typeof RegisterInstanceRequest>;

export const Instance = Type.Object(
  {
    ...instanceFields,
    id: Id,
    url: NonEmpty,
    tags: Type.Array(Type.String()),
    status: InstanceStatus,
    statusCause: Type.Optional(Type.Enum([...STATUS_CAUSES])),
    statusBeforeNodeOffline: Type.Optional(InstanceStatus),
    lastHeartbeat: Type.Optional(Timestamp),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  strict,
);
export type Instance = Type.Static<typeof Instance>;

export const ReportStatusRequest = Type.Object(
  {
    id: Id,
    status: InstanceStatus,
    details: Type.Optional(MaybeText(LIMITS.detailsLength)),
    by: Type.Optional(Type.Enum(["instance", "operator"], { description: "who sets the status (default instance): the cause is reported or operator" })),
  },
  { ...strict, description: "a status set by the instance itself (Starting or Stopping during a deploy) or by an operator" },
);
export type ReportStatusRequest = Type.Static<typeof ReportStatusRequest>;

export const CHECK_OUTCOMES = ["passed", "slow", "failed", "unreachable"] as const;
export type CheckOutcome = (typeof CHECK_OUTCOMES)[number];
export const CheckResultRequest = Type.Object(
  {
    id: Id,
    outcome: Type.Enum([...CHECK_OUTCOMES]),
    detail: MaybeText(LIMITS.detailsLength),
    checkedBy: Type.String({ maxLength: LIMITS.shortText, description: "the node or registry process that ran the check" }),
  },
  { ...strict, description: "a node agent reporting a check whose outcome changes the instance's status" },
);
export type CheckResultRequest = Type.Static<typeof CheckResultRequest>;

export const ProtectionRequest = Type.Object({ enabled: Type.Boolean() }, strict);

/** A list filter's value: compared, never stored, but bounded all the same. */
const Filter = Type.String({ maxLength: LIMITS.urlLength });

/** Time travel: the state as it was at an RFC 3339 time or after a stream sequence, folded from the events. */
const AsOf = Type.Union([Timestamp, Type.String({ pattern: AGO_PATTERN }), Type.Integer({ minimum: 0 })], {
  description:
    "answer the state as it was at this RFC 3339 time, this long ago (90s, 10m, 1h, 7d), or after this event stream sequence (folded from the events; telemetry as of each entity's last event)",
  errorMessage: "must be an RFC 3339 time (2026-11-24T10:00:00Z), a duration back from now (90s, 10m, 1h, 7d) or an event stream sequence (a whole number)",
});

/** Every list pages the same way: at most `limit` items after `after`, in id order; the reply's `next` is the `after` of the next page. */
const Paging = {
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: LIMITS.pageItems,
      description: "at most this many, in id order; a page also ends before the reply would outgrow the NATS max_payload. The reply's next is the after of the next page",
    }),
  ),
  after: Type.Optional(Type.String({ maxLength: 128, description: "only items whose id sorts after this one" })),
  asOf: Type.Optional(AsOf),
};

export const ListInstancesRequest = Type.Object(
  {
    id: Type.Optional(Filter),
    slug: Type.Optional(Filter),
    host: Type.Optional(Filter),
    ip: Type.Optional(Filter),
    scheme: Type.Optional(Filter),
    path: Type.Optional(Filter),
    deploymentId: Type.Optional(Filter),
    nodeUrl: Type.Optional(Filter),
    status: Type.Optional(InstanceStatus),
    healthy: Type.Optional(Type.Boolean({ description: "true: Healthy or Degraded; false: any other status" })),
    tags: Type.Optional(Type.Array(Filter, { maxItems: LIMITS.tags })),
    metadata: Type.Optional(Metadata),
    withVersions: Type.Optional(
      Type.Boolean({ description: "the reply's versions gives each instance's version (the event sequence its entry reflects), to order it against changes watched live" }),
    ),
    ...Paging,
  },
  { ...strict, description: "all filters AND-ed; tags matches instances holding every tag given, metadata those holding every pair given; listed in id order" },
);
export type ListInstancesRequest = Type.Static<typeof ListInstancesRequest>;

// ---------------------------------------------------------------- nodes

const Usage = Type.Object(
  { used: Type.Number({ minimum: 0 }), total: Type.Number({ minimum: 0 }), percent: Type.Number({ minimum: 0 }) },
  strict,
);
export const ResourceUsage = Type.Object({ cpu: Usage, memory: Usage, disk: Usage }, strict);

/** What nvidia-smi reports of one GPU; other vendors and older drivers report less, so only id, index and name are required. */
export const Gpu = Type.Object(
  {
    id: Type.String(),
    intraNodeId: Type.Integer({ minimum: 0 }),
    name: Type.String(),
    busId: Type.Optional(Type.String()),
    temperature: Type.Optional(Type.Number()),
    performanceState: Type.Optional(Type.String()),
    powerUsage: Type.Optional(Type.Number()),
    powerCap: Type.Optional(Type.Number()),
    memoryUsage: Type.Optional(Type.Number({ description: "MiB" })),
    memoryTotal: Type.Optional(Type.Number({ description: "MiB" })),
    gpuUtilization: Type.Optional(Type.Number()),
    computeMode: Type.Optional(Type.String()),
    cudaVersion: Type.Optional(Type.String()),
  },
  strict,
);

export const NodeStatus = Type.Enum(["Online", "Offline"]);
const NodeUrl = Type.String({ maxLength: LIMITS.urlLength, pattern: NODE_URL_PATTERN, description: "http or https" });
export const Node = Type.Object(
  {
    id: Id,
    url: NodeUrl,
    region: Type.Optional(Type.String()),
    availabilityZone: Type.Optional(Type.String()),
    lastHeartbeat: Type.Optional(Timestamp),
    status: NodeStatus,
    usage: Type.Optional(ResourceUsage),
    gpus: Type.Optional(Type.Array(Gpu)),
  },
  strict,
);
export type Node = Type.Static<typeof Node>;
export type ResourceUsage = Type.Static<typeof ResourceUsage>;
export type Gpu = Type.Static<typeof Gpu>;

/**
 * What a node agent publishes on `<prefix>.heartbeat.<nodeId>` every interval. The registry
 * drops fields it does not know (a newer agent is read, not refused) and dates a heartbeat
 * by when it arrives; `at`, the agent's clock, is only compared with that.
 */
export const Heartbeat = Type.Object(
  {
    id: Id,
    url: NodeUrl,
    region: Type.Optional(MaybeText(LIMITS.shortText)),
    availabilityZone: Type.Optional(MaybeText(LIMITS.shortText)),
    usage: ResourceUsage,
    gpus: Type.Optional(Type.Array(Gpu, { maxItems: 64 })),
    at: Type.Optional(Timestamp),
  },
  { ...strict, description: "fields not listed here are ignored" },
);
export type Heartbeat = Type.Static<typeof Heartbeat>;

export const SelectNodesRequest = Type.Object(
  {
    definitionId: Type.Optional(Type.String({ pattern: ID_PATTERN, description: "place this definition: its requirements, which the limits given here override" })),
    minCpuFreePercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: "free CPU, percent of the node's cores" })),
    minCpuFreeCores: Type.Optional(Type.Number({ minimum: 0, description: "free CPU, cores" })),
    minMemoryFreeBytes: Type.Optional(Type.Number({ minimum: 0 })),
    minDiskFreeBytes: Type.Optional(Type.Number({ minimum: 0 })),
    gpuCount: Type.Optional(Type.Integer({ minimum: 0, description: "GPUs that meet the GPU limits below" })),
    minGpuFreeMemoryMiB: Type.Optional(Type.Number({ minimum: 0 })),
    maxGpuUtilization: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    region: Type.Optional(Type.String()),
    availabilityZone: Type.Optional(Type.String()),
    strategy: Type.Optional(Type.Enum(["bestFit", "leastLoaded"], { description: "bestFit (default): least spare memory left first; leastLoaded: most free first" })),
    explain: Type.Optional(Type.Boolean({ description: "the reply's refused lists every node that does not fit and each requirement it fails" })),
  },
  strict,
);
export type SelectNodesRequest = Type.Static<typeof SelectNodesRequest>;

// ---------------------------------------------------------------- requests and replies

export const ByIdRequest = Type.Object({ id: Id }, strict);
export const NodeRefRequest = Type.Object(
  { id: Type.Optional(Id), url: Type.Optional(NonEmpty) },
  { ...strict, description: "exactly one of id and url" },
);
export type NodeRefRequest = Type.Static<typeof NodeRefRequest>;
export const ListNodesRequest = Type.Object({ ids: Type.Optional(Type.Array(Filter, { maxItems: LIMITS.listIds })), ...Paging }, strict);
export type ListNodesRequest = Type.Static<typeof ListNodesRequest>;
export const ListDefinitionsRequest = Type.Object({ ...Paging }, strict);
export type ListDefinitionsRequest = Type.Static<typeof ListDefinitionsRequest>;
export const EmptyRequest = Type.Object({}, strict);
export const ListServicesRequest = Type.Object({ ...Paging }, { ...strict, description: "a page of the slugs that have instances, in slug order (after: a slug)" });
export type ListServicesRequest = Type.Static<typeof ListServicesRequest>;
export const SaveDefinitionRequest = Type.Object({ definition: Definition }, strict);

// ---------------------------------------------------------------- history

export const HistoryRequest = Type.Object(
  {
    entity: Type.Optional(Type.Enum(["definition", "instance", "node"])),
    id: Type.Optional(Id),
    since: Type.Optional(PastTime),
    until: Type.Optional(PastTime),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "at most this many events (default 100); the reply's next is the after of the next page" })),
    after: Type.Optional(Type.Integer({ minimum: 0, description: "only events after this stream sequence" })),
  },
  { ...strict, description: "entity and id: that entity's events, oldest first; no id: every change from since (the audit log)" },
);
export type HistoryRequest = Type.Static<typeof HistoryRequest>;

/** Who sent a request, as nats-server says: the `Nats-Request-Info` it sets on requests imported from another account. */
export const Caller = Type.Object({ account: Type.String(), user: Type.Optional(Type.String()), name: Type.Optional(Type.String()) });
export type Caller = Type.Static<typeof Caller>;

/** The expiry protection: whether it may engage, whether it is engaged, since when and why. */
export const ExpiryProtection = Type.Object({
  enabled: Type.Boolean(),
  engaged: Type.Boolean(),
  since: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});
export type ExpiryProtection = Type.Static<typeof ExpiryProtection>;

/** One event as history shows it: what happened, when, why and by whom. */
export const HistoryEntry = Type.Object({
  seq: Type.Integer({ description: "its sequence in the event stream" }),
  type: Type.String(),
  at: Type.String(),
  entity: Type.String(),
  id: Type.String(),
  slug: Type.Optional(Type.String({ description: "an instance event's slug, when the instance had one" })),
  by: Type.Optional(Caller),
  via: Type.Optional(Type.Union([Type.Literal("nats"), Type.Literal("http")], { description: "the face a request came through; absent on the registry's own decisions" })),
  requestId: Type.Optional(Type.String()),
  cause: Type.Optional(Type.String()),
  from: Type.Optional(Type.String()),
  to: Type.Optional(Type.String()),
  changed: Type.Optional(Type.Array(Type.String())),
  changes: Type.Optional(
    Type.Array(Type.Object({ field: Type.String(), from: Type.Optional(Type.Unknown()), to: Type.Optional(Type.Unknown()) }), {
      description: "an update's changed fields with their values before and after (absent: it had none); events written before 2026-12 say only `changed`",
    }),
  ),
  reason: Type.Optional(Type.String()),
});
export type HistoryEntry = Type.Static<typeof HistoryEntry>;

/**
 * The `Nats-Request-Info` header nats-server sets on a request imported from another
 * account (it replaces one the caller set): who sent it. Fields beyond these are ignored.
 */
export const RequestInfo = Type.Object({
  acc: Type.String({ minLength: 1, maxLength: 256 }),
  user: Type.Optional(Type.String({ maxLength: 256 })),
  name: Type.Optional(Type.String({ maxLength: 256 })),
});

export const ErrorReply = Type.Object({
  error: Type.Object({
    code: Type.Integer(),
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
    /** What to do next, as the operation that does it; the message ends with it in the NATS face's words. */
    hint: Type.Optional(Type.Object({ text: Type.String(), operation: Type.String() })),
  }),
});

/** The schemas published in `schemas/`, by file name. */
export const wireSchemas = {
  Definition,
  Instance,
  Node,
  SaveDefinitionRequest,
  RegisterInstanceRequest,
  ListInstancesRequest,
  ListNodesRequest,
  ListDefinitionsRequest,
  ListServicesRequest,
  ByIdRequest,
  NodeRefRequest,
  SelectNodesRequest,
  Heartbeat,
  ReportStatusRequest,
  CheckResultRequest,
  ProtectionRequest,
  HistoryRequest,
  ErrorReply,
} as const;
