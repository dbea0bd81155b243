/**
 * Configuration: `defaultConfig()` works on one machine; `configFromEnv()` merges the
 * environment over it once, and refuses a bad value with a message naming the variable.
 */
import { isValidPrefix } from "./contract/names.ts";

export type Config = {
  /** NATS_URL: comma-separated server URLs. */
  natsUrl: string;
  /** NATS_CREDS: path of a credentials file (JWT + nkey). */
  natsCreds?: string;
  /** NATS_USER and NATS_PASSWORD: user/password authentication. */
  natsUser?: string;
  natsPassword?: string;
  /** REGISTRY_PREFIX: the first token(s) of every subject; also names streams and buckets. */
  prefix: string;
  /** REGISTRY_MAX_REQUEST_BYTES: larger requests are refused with 413. */
  maxRequestBytes: number;
  /** LOG_LEVEL: pino level. */
  logLevel: string;
};

export function defaultConfig(): Config {
  return {
    natsUrl: "nats://127.0.0.1:4222",
    prefix: "registry",
    maxRequestBytes: 256 * 1024,
    logLevel: "info",
  };
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const config = defaultConfig();
  const problems: string[] = [];
  if (env.NATS_URL) config.natsUrl = env.NATS_URL;
  if (env.NATS_CREDS) config.natsCreds = env.NATS_CREDS;
  if (env.NATS_USER) config.natsUser = env.NATS_USER;
  if (env.NATS_PASSWORD) config.natsPassword = env.NATS_PASSWORD;
  if (env.REGISTRY_PREFIX) config.prefix = env.REGISTRY_PREFIX;
  if (env.REGISTRY_MAX_REQUEST_BYTES) config.maxRequestBytes = Number(env.REGISTRY_MAX_REQUEST_BYTES);
  if (env.LOG_LEVEL) config.logLevel = env.LOG_LEVEL;

  if (!isValidPrefix(config.prefix)) problems.push(`REGISTRY_PREFIX "${config.prefix}" must be tokens of letters, digits, - and _ joined by dots`);
  if (!Number.isInteger(config.maxRequestBytes) || config.maxRequestBytes < 1) {
    problems.push(`REGISTRY_MAX_REQUEST_BYTES "${env.REGISTRY_MAX_REQUEST_BYTES}" must be a positive whole number of bytes`);
  }
  if (!LEVELS.includes(config.logLevel)) problems.push(`LOG_LEVEL "${config.logLevel}" must be one of ${LEVELS.join(", ")}`);
  if (config.natsCreds && config.natsUser) problems.push("NATS_CREDS and NATS_USER are both set; use one way to authenticate");
  if (Boolean(config.natsUser) !== Boolean(config.natsPassword)) problems.push("NATS_USER and NATS_PASSWORD go together; set both or neither");
  if (problems.length > 0) throw new Error(`bad configuration: ${problems.join("; ")}`);
  return config;
}
