/**
 * Every size and range limit of the API, in one place: the schemas and the URL rules use
 * these, and docs/API.md lists them. A request past one is refused with 400 naming the
 * field and the limit, and nothing is written.
 */
export const LIMITS = {
  /** An instance's url and nodeUrl, a definition's URLs. */
  urlLength: 2048,
  hostLength: 253,
  pathLength: 1024,
  schemeLength: 32,
  /** Free text: an instance's details, a status report's details, a check's detail. */
  detailsLength: 4096,
  tags: 64,
  tagLength: 128,
  /** An instance's metadata: pairs, key length (letters, digits, then also . _ / -), value length. */
  metadataPairs: 32,
  metadataKeyLength: 63,
  metadataValueLength: 256,
  /** Short strings: deployment ids, versions, names of things. */
  shortText: 256,
  /** Other strings of definitions (build context, container file, metadata values...). */
  text: 1024,
  ports: 100,
  envars: 500,
  envarKeyLength: 256,
  envarValueLength: 8192,
  apiSpecs: 50,
  apiSpecMetadata: 50,
  clients: 50,
  /** Ids in one node.list request. */
  listIds: 1000,
  /** Items in one list page (`limit`). */
  pageItems: 10_000,
  ttlSeconds: { min: 0.1, max: 86_400 },
  graceSeconds: { max: 604_800 },
  check: {
    intervalMs: { min: 100, max: 3_600_000 },
    timeoutMs: { min: 10, max: 60_000 },
    slowMs: { min: 1, max: 60_000 },
    failuresBeforeChange: { min: 1, max: 100 },
  },
} as const;

/**
 * The schemes an instance URL may have: the web, RPC and message protocols services speak,
 * and the data services a registry of services lists. Anything else (`javascript:`,
 * `file:`, `data:`) is refused.
 */
export const INSTANCE_URL_SCHEMES = [
  "http", "https", "grpc", "grpcs", "h2c", "ws", "wss", "tcp", "udp", "tls", "nats",
  "redis", "rediss", "postgres", "postgresql", "mysql", "mongodb", "amqp", "amqps", "kafka",
] as const;

/** A node's URL is where its agent answers: the web only. */
export const NODE_URL_SCHEMES = ["http", "https"] as const;

/** Printable ASCII without spaces: no control characters, NUL, tabs or newlines (which URL parsers drop silently). */
export const PRINTABLE_PATTERN = "^[\\x21-\\x7E]*$";
/** A node's URL as its heartbeats carry it: http or https, printable ASCII. */
export const NODE_URL_PATTERN = "^https?://[\\x21-\\x7E]+$";
/** An IPv4 or IPv6 address as written in a URL's host (without brackets). */
export const IP_PATTERN = "^[0-9A-Fa-f:.]{2,45}$";
/** A path on the instance's own origin: starts with one `/`, printable ASCII, no backslash. */
export const CHECK_PATH_PATTERN = "^/(?!/)[\\x21-\\x5B\\x5D-\\x7E]*$";
