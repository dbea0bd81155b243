/**
 * Configuration: `defaultConfig()` works on one machine; `configFromEnv()` merges the
 * environment over it once, and refuses a bad value with a message naming the variable.
 */
import { ID_PATTERN, PATTERN_MEANING, isValidId } from "./contract/ids.ts";
import { isValidPrefix } from "./contract/names.ts";
import { offlineWindowProblem } from "./domain/node.ts";
import { slugScopeProblem } from "./domain/slugScope.ts";
import type { SnapshotPolicy } from "./eventstore/snapshotWriter.ts";

export type Config = {
  /** NATS_URL: comma-separated server URLs. */
  natsUrl: string;
  /** NATS_CREDS: path of a credentials file (JWT + nkey). */
  natsCreds?: string;
  /** NATS_NKEY: a file holding a user nkey's seed. */
  natsNkey?: string;
  /** NATS_USER and NATS_PASSWORD: user/password authentication. */
  natsUser?: string;
  natsPassword?: string;
  /** REGISTRY_PREFIX: the first token(s) of every subject; also names streams and buckets. */
  prefix: string;
  /** REGISTRY_MAX_REQUEST_BYTES: larger requests are refused with 413. */
  maxRequestBytes: number;
  /** LOG_LEVEL: pino level. */
  logLevel: string;
  /** LOG_FORMAT: json lines, or pretty (coloured, one readable line per event); by default pretty on a terminal. */
  logFormat?: "json" | "pretty";
  /** OB_NODE_ID: this machine's node id; without it one is generated once and kept in dataDir. */
  nodeId?: string;
  /** OB_SELF_URL: how other nodes reach this one. */
  selfUrl: string;
  /** OB_REGION and OB_AVAILABILITY_ZONE: where this node is. */
  region?: string;
  availabilityZone?: string;
  /** REGISTRY_DATA_DIR: keeps the generated node id; its filesystem is the node's disk usage. */
  dataDir: string;
  /** REGISTRY_HEARTBEAT_INTERVAL_MS: how often the node agent heartbeats. */
  heartbeatIntervalMs: number;
  /** REGISTRY_OFFLINE_AFTER_MS: a node without heartbeat for this long goes Offline (default 3 intervals). */
  offlineAfterMs: number;
  /** REGISTRY_HEALTH_TICK_MS: how often leases and instances of offline nodes are checked. */
  healthTickMs: number;
  /**
   * REGISTRY_EXPIRY_PROTECTION_SHARE: lease expiry pauses when more than this share of all
   * leases lapses within one window (0..1; 0 or "off" turns the protection off).
   */
  expiryProtectionShare: number;
  /** REGISTRY_EXPIRY_PROTECTION_WINDOW_MS: the window of the protection. */
  expiryProtectionWindowMs: number;
  /** REGISTRY_EVENTS_MAX_BYTES: at this size of the event stream the registry refuses writes (503) rather than fill the disk. */
  eventsMaxBytes: number;
  /**
   * REGISTRY_EVENTS_RESERVE_BYTES: room past eventsMaxBytes for the registry's own liveness
   * writes (nodes going Offline, leases lapsing); the stream's hard cap is the sum. Unset: 5% of
   * eventsMaxBytes, at least 1 MiB (eventsReserveBytesOf).
   */
  eventsReserveBytes?: number;
  /** REGISTRY_EVENTS_HISTORY_PER_ENTITY: events kept per entity; older ones go, the latest always stays. */
  eventsHistoryPerEntity: number;
  /** REGISTRY_HEARTBEAT_SUBJECTS: the most nodes that join; a new node past it is not joined (its heartbeats are dropped). */
  heartbeatSubjects: number;
  /** REGISTRY_NODE_RECORD_MS: how stale a steady node's stored lastHeartbeat may get (its coarse record's period). */
  nodeRecordEveryMs: number;
  /** REGISTRY_LEASE_RECORD_MS: how stale a renewing instance's stored lastHeartbeat may get (its coarse record's period). */
  leaseRecordEveryMs: number;
  /** REGISTRY_STORAGE_CHECK_MS: how often the configuration of the registry's streams and buckets is checked (changes are logged, counted and undone). */
  storageCheckMs: number;
  /** REGISTRY_REPLICAS: copies of every stream and bucket the registry creates (3 on a three-node cluster). */
  replicas: number;
  /**
   * REGISTRY_REPLY_AFTER: when a write is answered. `projection` (the default): once its event
   * is stored and projected into the buckets, so the writer's next read sees it. `append`: once
   * the event is stored; the projection follows within milliseconds, so reads may lag it and a
   * URL registered under two ids in that window can get two instances. Faster, and as durable.
   */
  replyAfter: "projection" | "append";
  /** REGISTRY_HTTP_ADDR: where the HTTP face listens (host:port; port 0 picks a free one), or off. */
  httpAddr: { host: string; port: number } | "off";
  /**
   * REGISTRY_HTTP_HOSTS: the host names the HTTP face answers (a request naming another in its
   * Host header gets 421: DNS rebinding): always the loopback names and the listen host, plus
   * these; "*" answers every name.
   */
  httpHosts: readonly string[] | "any";
  /** REGISTRY_WATCHERS_MAX: watchers of GET /registry-svc/watch connected at once; one more gets 503. */
  watchersMax: number;
  /** REGISTRY_WATCH_BUFFER_BYTES: what one watcher may leave unread before it is cut off. */
  watchBufferBytes: number;
  /** REGISTRY_WATCH_TOTAL_BYTES: what all watchers together may leave unread; past it, those behind are cut off. */
  watchTotalBytes: number;
  /** REGISTRY_TIME_TRAVEL_CONCURRENCY: lists with asOf (each a pass over the event stream) running at once; one more gets 503. */
  timeTravelConcurrency: number;
  /** REGISTRY_TIME_TRAVEL_TIMEOUT_MS: a list with asOf stops reading at this deadline (503), as its caller has stopped waiting. */
  timeTravelTimeoutMs: number;
  /** REGISTRY_SNAPSHOT_EVENTS, REGISTRY_SNAPSHOT_MINUTES, REGISTRY_SNAPSHOTS_KEEP, REGISTRY_SNAPSHOTS_DAYS, REGISTRY_SNAPSHOT_CHECK_MS: when snapshots are written and how long kept (docs/API.md, "Snapshots"). */
  snapshots: SnapshotPolicy;
  /** REGISTRY_SLUGS: the slugs (or prefixes ending in *) whose instances this process mirrors and serves; empty: every slug. */
  slugs: string[];
  /** REGISTRY_POLICY: the policy file (roles of NATS accounts); without one every caller may do everything. */
  policyFile?: string;
  /** REGISTRY_DNS_ADDR: where the DNS face answers, UDP and TCP (host:port; port 0 picks a free one), or off. */
  dnsAddr: { host: string; port: number } | "off";
  /** REGISTRY_DNS_DOMAIN: the domain it answers for, lower case without the trailing dot (`registry`). */
  dnsDomain: string;
  /** REGISTRY_DNS_TTL: seconds an answer may be cached, and an empty one or NXDOMAIN. */
  dnsTtlSeconds: number;
  /**
   * REGISTRY_DNS_PUBLIC: with REGISTRY_POLICY, the slugs DNS answers for (comma-separated; a
   * trailing * matches a prefix), since a DNS query carries no identity; none by default.
   */
  dnsPublicSlugs: readonly string[];
};

/** A configuration the registry cannot start with; the message names each variable at fault. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function defaultConfig(): Config {
  return {
    natsUrl: "nats://127.0.0.1:4222",
    prefix: "registry",
    maxRequestBytes: 256 * 1024,
    logLevel: "info",
    selfUrl: "http://127.0.0.1:11337",
    dataDir: "./data",
    heartbeatIntervalMs: 5000,
    offlineAfterMs: 15000,
    healthTickMs: 1000,
    expiryProtectionShare: 0.5,
    expiryProtectionWindowMs: 60_000,
    eventsMaxBytes: 8 * 1024 ** 3,
    eventsHistoryPerEntity: 10_000,
    heartbeatSubjects: 100_000,
    nodeRecordEveryMs: 5 * 60_000,
    leaseRecordEveryMs: 10 * 60_000,
    replicas: 1,
    storageCheckMs: 30_000,
    replyAfter: "projection",
    httpAddr: { host: "127.0.0.1", port: 11337 },
    httpHosts: LOOPBACK_NAMES,
    watchersMax: 500,
    timeTravelConcurrency: 2,
    timeTravelTimeoutMs: 5000,
    slugs: [],
    snapshots: { everyEvents: 20_000, everyMs: 60 * 60_000, keep: { newest: 24, days: 400 }, shards: 256, checkMs: 5000, chain: 32 },
    watchBufferBytes: 256 * 1024,
    watchTotalBytes: 32 * 1024 * 1024,
    dnsAddr: { host: "127.0.0.1", port: 8600 },
    dnsDomain: "registry",
    dnsTtlSeconds: 5,
    dnsPublicSlugs: [],
  };
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
/** A host name as a Host header names it: lower-case, an IPv6 address in brackets. */
const HOST_NAME = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/;
const asHostName = (name: string) => {
  const lower = name.trim().toLowerCase().replace(/\.$/, "");
  return lower.includes(":") && !lower.startsWith("[") ? `[${lower}]` : lower;
};

/** The names the HTTP face answers: loopback, the host it listens on (not a wildcard address), and those configured. */
function servedHosts(httpAddr: Config["httpAddr"], configured: string | undefined, problems: string[]): Config["httpHosts"] {
  if (configured?.trim() === "*") return "any";
  const names = new Set(LOOPBACK_NAMES);
  if (httpAddr !== "off" && httpAddr.host !== "0.0.0.0" && httpAddr.host !== "::") names.add(asHostName(httpAddr.host));
  for (const raw of (configured ?? "").split(",").filter((n) => n.trim() !== "")) {
    const name = asHostName(raw);
    if (HOST_NAME.test(name)) names.add(name);
    else problems.push(`REGISTRY_HTTP_HOSTS: "${raw}" is not a host name (registry.internal, 10.0.0.5, [fd00::5]); list names comma-separated, or * for every name`);
  }
  return [...names];
}

/** The reserve past REGISTRY_EVENTS_MAX_BYTES that only the registry's own liveness writes use. */
export function eventsReserveBytesOf(config: Pick<Config, "eventsMaxBytes" | "eventsReserveBytes">): number {
  return config.eventsReserveBytes ?? Math.max(Math.ceil(config.eventsMaxBytes / 20), 1024 ** 2);
}

/** A comma-separated list, each entry trimmed, empty ones left out. */
const commaList = (raw: string) => raw.split(",").map((s) => s.trim()).filter((s) => s !== "");

function positiveInteger(env: NodeJS.ProcessEnv, name: string, problems: string[]): number | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    problems.push(`${name} "${raw}" must be a positive whole number`);
    return undefined;
  }
  return n;
}

function nonNegativeInteger(env: NodeJS.ProcessEnv, name: string, problems: string[]): number | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    problems.push(`${name} "${raw}" must be a whole number, 0 or more`);
    return undefined;
  }
  return n;
}

/** A listen address, `host:port` (`[::1]:port` for IPv6; port 0 picks a free one), or `off`; undefined when unset or bad. */
function listenAddress(env: NodeJS.ProcessEnv, name: string, example: string, problems: string[]): { host: string; port: number } | "off" | undefined {
  const raw = env[name];
  if (raw === "off") return "off";
  if (!raw) return undefined;
  const parsed = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  const port = Number(parsed?.[2]);
  if (!parsed || port > 65535) {
    problems.push(`${name} "${raw}" must be host:port (${example}; port 0 picks a free one) or off`);
    return undefined;
  }
  return { host: parsed[1]!.replace(/^\[|\]$/g, ""), port };
}

/** The node's URL when OB_SELF_URL is unset: where its HTTP face listens (a wildcard host as loopback), when that is known before it starts. */
function selfUrlOf(httpAddr: Config["httpAddr"]): string | undefined {
  if (httpAddr === "off" || httpAddr.port === 0) return undefined;
  const host = httpAddr.host === "0.0.0.0" ? "127.0.0.1" : httpAddr.host === "::" ? "::1" : httpAddr.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${httpAddr.port}`;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const config = defaultConfig();
  const problems: string[] = [];
  if (env.NATS_URL) config.natsUrl = env.NATS_URL;
  if (env.NATS_CREDS) config.natsCreds = env.NATS_CREDS;
  if (env.NATS_NKEY) config.natsNkey = env.NATS_NKEY;
  if (env.NATS_USER) config.natsUser = env.NATS_USER;
  if (env.NATS_PASSWORD) config.natsPassword = env.NATS_PASSWORD;
  if (env.REGISTRY_PREFIX) config.prefix = env.REGISTRY_PREFIX;
  config.maxRequestBytes = positiveInteger(env, "REGISTRY_MAX_REQUEST_BYTES", problems) ?? config.maxRequestBytes;
  if (env.LOG_LEVEL) config.logLevel = env.LOG_LEVEL;
  if (env.LOG_FORMAT === "json" || env.LOG_FORMAT === "pretty") config.logFormat = env.LOG_FORMAT;
  else if (env.LOG_FORMAT) problems.push(`LOG_FORMAT "${env.LOG_FORMAT}" must be json or pretty (unset: pretty on a terminal, json otherwise)`);
  if (env.OB_NODE_ID) config.nodeId = env.OB_NODE_ID;
  if (env.OB_SELF_URL) config.selfUrl = env.OB_SELF_URL;
  if (env.OB_REGION) config.region = env.OB_REGION;
  if (env.OB_AVAILABILITY_ZONE) config.availabilityZone = env.OB_AVAILABILITY_ZONE;
  if (env.REGISTRY_DATA_DIR) config.dataDir = env.REGISTRY_DATA_DIR;
  if (env.REGISTRY_POLICY) config.policyFile = env.REGISTRY_POLICY;
  const interval = positiveInteger(env, "REGISTRY_HEARTBEAT_INTERVAL_MS", problems);
  if (interval !== undefined) {
    config.heartbeatIntervalMs = interval;
    config.offlineAfterMs = 3 * interval;
  }
  config.offlineAfterMs = positiveInteger(env, "REGISTRY_OFFLINE_AFTER_MS", problems) ?? config.offlineAfterMs;
  config.healthTickMs = positiveInteger(env, "REGISTRY_HEALTH_TICK_MS", problems) ?? config.healthTickMs;
  config.expiryProtectionWindowMs = positiveInteger(env, "REGISTRY_EXPIRY_PROTECTION_WINDOW_MS", problems) ?? config.expiryProtectionWindowMs;
  config.eventsMaxBytes = positiveInteger(env, "REGISTRY_EVENTS_MAX_BYTES", problems) ?? config.eventsMaxBytes;
  const reserve = positiveInteger(env, "REGISTRY_EVENTS_RESERVE_BYTES", problems);
  if (reserve !== undefined) config.eventsReserveBytes = reserve;
  config.eventsHistoryPerEntity = positiveInteger(env, "REGISTRY_EVENTS_HISTORY_PER_ENTITY", problems) ?? config.eventsHistoryPerEntity;
  config.heartbeatSubjects = positiveInteger(env, "REGISTRY_HEARTBEAT_SUBJECTS", problems) ?? config.heartbeatSubjects;
  config.nodeRecordEveryMs = positiveInteger(env, "REGISTRY_NODE_RECORD_MS", problems) ?? config.nodeRecordEveryMs;
  config.leaseRecordEveryMs = positiveInteger(env, "REGISTRY_LEASE_RECORD_MS", problems) ?? config.leaseRecordEveryMs;
  config.replicas = positiveInteger(env, "REGISTRY_REPLICAS", problems) ?? config.replicas;
  config.storageCheckMs = positiveInteger(env, "REGISTRY_STORAGE_CHECK_MS", problems) ?? config.storageCheckMs;
  if (config.replicas > 5) problems.push(`REGISTRY_REPLICAS (${config.replicas}) must be 1 to 5, as JetStream allows`);
  config.watchersMax = positiveInteger(env, "REGISTRY_WATCHERS_MAX", problems) ?? config.watchersMax;
  config.watchBufferBytes = positiveInteger(env, "REGISTRY_WATCH_BUFFER_BYTES", problems) ?? config.watchBufferBytes;
  config.watchTotalBytes = positiveInteger(env, "REGISTRY_WATCH_TOTAL_BYTES", problems) ?? config.watchTotalBytes;
  config.timeTravelConcurrency = positiveInteger(env, "REGISTRY_TIME_TRAVEL_CONCURRENCY", problems) ?? config.timeTravelConcurrency;
  config.timeTravelTimeoutMs = positiveInteger(env, "REGISTRY_TIME_TRAVEL_TIMEOUT_MS", problems) ?? config.timeTravelTimeoutMs;
  if (env.REGISTRY_SLUGS !== undefined) {
    const slugs = commaList(env.REGISTRY_SLUGS);
    const problem = slugScopeProblem(slugs);
    if (problem) problems.push(`REGISTRY_SLUGS: ${problem}`);
    else config.slugs = slugs;
  }
  const snapshots = config.snapshots;
  snapshots.everyEvents = nonNegativeInteger(env, "REGISTRY_SNAPSHOT_EVENTS", problems) ?? snapshots.everyEvents;
  snapshots.everyMs = (positiveInteger(env, "REGISTRY_SNAPSHOT_MINUTES", problems) ?? snapshots.everyMs / 60_000) * 60_000;
  snapshots.keep.newest = positiveInteger(env, "REGISTRY_SNAPSHOTS_KEEP", problems) ?? snapshots.keep.newest;
  snapshots.keep.days = nonNegativeInteger(env, "REGISTRY_SNAPSHOTS_DAYS", problems) ?? snapshots.keep.days;
  snapshots.checkMs = positiveInteger(env, "REGISTRY_SNAPSHOT_CHECK_MS", problems) ?? snapshots.checkMs;
  config.httpAddr = listenAddress(env, "REGISTRY_HTTP_ADDR", "127.0.0.1:11337", problems) ?? config.httpAddr;
  config.dnsAddr = listenAddress(env, "REGISTRY_DNS_ADDR", "127.0.0.1:8600", problems) ?? config.dnsAddr;
  if (!env.OB_SELF_URL) config.selfUrl = selfUrlOf(config.httpAddr) ?? config.selfUrl;
  const domain = env.REGISTRY_DNS_DOMAIN?.toLowerCase().replace(/\.$/, "");
  if (domain !== undefined) {
    if (/^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(domain)) config.dnsDomain = domain;
    else problems.push(`REGISTRY_DNS_DOMAIN "${env.REGISTRY_DNS_DOMAIN}" must be a domain name (registry., or consul.internal.)`);
  }
  config.dnsTtlSeconds = nonNegativeInteger(env, "REGISTRY_DNS_TTL", problems) ?? config.dnsTtlSeconds;
  if (env.REGISTRY_DNS_PUBLIC) config.dnsPublicSlugs = commaList(env.REGISTRY_DNS_PUBLIC);
  config.httpHosts = servedHosts(config.httpAddr, env.REGISTRY_HTTP_HOSTS, problems);
  const replyAfter = env.REGISTRY_REPLY_AFTER;
  if (replyAfter === "projection" || replyAfter === "append") config.replyAfter = replyAfter;
  else if (replyAfter) problems.push(`REGISTRY_REPLY_AFTER "${replyAfter}" must be projection (the default: reads see a write once it is answered) or append (faster; reads may lag a write by milliseconds)`);
  const share = env.REGISTRY_EXPIRY_PROTECTION_SHARE;
  if (share) {
    const n = share === "off" ? 0 : Number(share);
    if (!(n >= 0 && n < 1)) problems.push(`REGISTRY_EXPIRY_PROTECTION_SHARE "${share}" must be a share from 0 to below 1 (0.5 is half of all leases), or off`);
    else config.expiryProtectionShare = n;
  }

  if (!isValidPrefix(config.prefix)) problems.push(`REGISTRY_PREFIX "${config.prefix}" must be tokens of letters, digits, - and _ joined by dots`);
  if (config.nodeId !== undefined && !isValidId(config.nodeId)) problems.push(`OB_NODE_ID "${config.nodeId}" ${PATTERN_MEANING[ID_PATTERN]}`);
  if (!/^https?:\/\/[\x21-\x7E]+$/.test(config.selfUrl) || !URL.canParse(config.selfUrl)) {
    problems.push(`OB_SELF_URL "${config.selfUrl}" is not an http or https URL such as http://node1.internal:11337`);
  }
  const offlineWindow = offlineWindowProblem(config.offlineAfterMs, config.heartbeatIntervalMs);
  if (offlineWindow) problems.push(`REGISTRY_OFFLINE_AFTER_MS (${config.offlineAfterMs}) ${offlineWindow}`);
  if (!LEVELS.includes(config.logLevel)) problems.push(`LOG_LEVEL "${config.logLevel}" must be one of ${LEVELS.join(", ")}`);
  if ([config.natsCreds, config.natsNkey, config.natsUser].filter(Boolean).length > 1) {
    problems.push("more than one of NATS_CREDS, NATS_NKEY and NATS_USER is set; use one way to authenticate");
  }
  if (Boolean(config.natsUser) !== Boolean(config.natsPassword)) problems.push("NATS_USER and NATS_PASSWORD go together; set both or neither");
  if (problems.length > 0) throw new ConfigError(`bad configuration: ${problems.join("; ")}`);
  return config;
}
