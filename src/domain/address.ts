/**
 * Where an instance can be called: its URL and the parts it is made of. A registration
 * gives either a `url` (the parts are read from it) or the parts (the URL is built).
 */
import type { RegisterInstanceRequest } from "../contract/schemas.ts";
import { badRequest, type ErrorDetail } from "../contract/errors.ts";
import { INSTANCE_URL_SCHEMES, LIMITS, NODE_URL_SCHEMES } from "../contract/limits.ts";

export type Address = { url: string; scheme?: string; host?: string; ip?: string; port?: number; path?: string };
export const ADDRESS_FIELDS = ["url", "scheme", "host", "ip", "port", "path"] as const;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, ws: 80, https: 443, wss: 443 };
/** The port a URL of `scheme` without one is reached on, where the scheme fixes one. */
export const defaultPortOf = (scheme: string | undefined): number | undefined => DEFAULT_PORTS[scheme ?? ""];
const isIp = (hostname: string) => IPV4.test(hostname) || hostname.includes(":");

/**
 * A URL the WHATWG parser leaves as it is but for the `/` of an empty path: a lower-case http(s)
 * scheme and host name (or a plain dotted-quad address), a port that is not the scheme's default,
 * a path of characters never encoded and without dot segments. The common case, checked without
 * the parser's cost: a read model indexes a million instances' URLs at start.
 */
const PLAIN_URL = /^(https?):\/\/((?:[a-z0-9-]+\.)*[a-z0-9-]+)(?::([1-9]\d{0,4}))?(\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?$/;
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

function plainNormalUrl(url: string): string | undefined {
  const m = PLAIN_URL.exec(url);
  if (!m) return undefined;
  const [, scheme, host, port, path] = m;
  // A host whose last label is a number (or hex) is an IPv4 address to the parser, which rewrites any but a plain dotted quad.
  const last = host!.slice(host!.lastIndexOf(".") + 1);
  if ((/^\d+$/.test(last) || /^0x/.test(last)) && !DOTTED_QUAD.test(host!)) return undefined;
  if (port !== undefined && (Number(port) > 65535 || Number(port) === DEFAULT_PORTS[scheme!])) return undefined;
  if (path !== undefined && DOT_SEGMENT.test(path)) return undefined;
  return path === undefined ? `${url}/` : url;
}

/** The URL as the WHATWG parser writes it, or undefined when it is no URL. */
function canonicalUrl(url: string): string | undefined {
  const plain = plainNormalUrl(url);
  if (plain !== undefined) return plain;
  try {
    return new URL(url).href;
  } catch {
    return undefined;
  }
}

/** The URL's canonical form, so that `http://a:80/` and `http://a:80` are one address. */
export function normalizeUrl(url: string): string {
  return canonicalUrl(url) ?? url;
}

const ROOT_PATH = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\/$/;

/**
 * The key an index of addresses files a URL under: its canonical form less the `/` of an empty
 * path, so that the common `http://host:port` is its own key and a read model holding a million
 * instances keeps no second copy of each URL (50 bytes an instance, measured). Two spellings of
 * one address have one key.
 */
export function addressKey(url: string): string {
  const normal = canonicalUrl(url);
  if (normal === undefined) return url; // no URL: the text is its own key, as normalizeUrl leaves it
  if (normal.length === url.length + 1 && normal.startsWith(url)) return url;
  return ROOT_PATH.test(normal) ? normal.slice(0, -1) : normal;
}

/** Why a URL does not parse, in the words its writer needs: a port out of range, or no URL at all. */
function unparsable(url: string): string {
  const port = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/i.exec(url)?.[1];
  if (port !== undefined && Number(port) > 65535) return `has port ${port}, outside 1 to 65535`;
  return "is not an absolute URL such as http://user-svc:8080";
}

/**
 * The IPv4 address a URL's host stands for when it is not written as one: a number, hex, octal,
 * parts left out or percent-encoded (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), which URL
 * readers and resolvers take for an address (here 127.0.0.1); undefined for any other host.
 * Such spellings are refused: a grant, a reader or a person would see another host than is called.
 */
function disguisedIpv4(url: string): string | undefined {
  const written = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#[\]]*)/i.exec(url)?.[1]?.toLowerCase();
  if (!written || IPV4.test(written)) return undefined;
  const read = URL.canParse(`http://${written}/`) ? new URL(`http://${written}/`).hostname : undefined;
  return read !== undefined && IPV4.test(read) ? read : undefined;
}

/**
 * Where a URL may point: a scheme of `schemes`, a host, no `user:password@` (a registry is
 * read by every service: no secrets in it), at most the URL length. Returns what is wrong.
 */
function urlProblems(url: string, schemes: readonly string[]): string[] {
  if (url.length > LIMITS.urlLength) return [`must not have more than ${LIMITS.urlLength} characters`];
  if (!URL.canParse(url)) return [unparsable(url)];
  const parsed = new URL(url);
  const scheme = parsed.protocol.replace(/:$/, "");
  const problems: string[] = [];
  if (!schemes.includes(scheme)) problems.push(`has scheme ${scheme}, which is not one of ${schemes.join(", ")}`);
  if (parsed.username || parsed.password) problems.push("carries a user or password; keep credentials out of the registry");
  if (!parsed.hostname) problems.push("has no host");
  const ipv4 = disguisedIpv4(url);
  if (ipv4 !== undefined) problems.push(`writes the IPv4 address ${ipv4} another way; write it as ${ipv4}`);
  return problems;
}

function assertUrl(url: string, path: string, schemes: readonly string[]): void {
  const problems = urlProblems(url, schemes);
  if (problems.length === 0) return;
  const details = problems.map((message) => ({ path, message }));
  throw badRequest(`invalid instance: ${path} ${JSON.stringify(url.length > 100 ? `${url.slice(0, 100)}...` : url)} ${problems.join("; ")}`, details);
}

/** What a URL has where a registration gave `field` beside it (an IP address is its ip, not its host). */
function urlPartSaid(field: "scheme" | "host" | "ip" | "port" | "path", read: Omit<Address, "url">): string {
  const found = read[field];
  if (found !== undefined) return `whose ${field} is ${JSON.stringify(found)}`;
  if (field === "host") return `whose host is the IP address ${read.ip ?? ""} (give it as ip, or leave host out)`;
  if (field === "ip") return `whose host is the name ${read.host ?? ""}, not an IP address (give it as host, or leave ip out)`;
  return `which has no ${field}`;
}

function fromUrl(request: RegisterInstanceRequest & { url: string }): Address {
  assertUrl(request.url, "/url", INSTANCE_URL_SCHEMES);
  const parsed = new URL(request.url);
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const read: Omit<Address, "url"> = {
    scheme: parsed.protocol.replace(/:$/, ""),
    ...(isIp(hostname) ? { ip: hostname } : { host: hostname }),
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    ...(parsed.pathname !== "/" || request.url.endsWith("/") ? { path: parsed.pathname } : {}),
  };
  const mismatches: ErrorDetail[] = [];
  for (const field of ["scheme", "host", "ip", "port", "path"] as const) {
    const given = request[field];
    if (given !== undefined && given !== read[field]) {
      mismatches.push({ path: `/${field}`, message: `${JSON.stringify(given)} does not match the url, ${urlPartSaid(field, read)}` });
    }
  }
  if (mismatches.length > 0) {
    const summary = mismatches.map((d) => `${d.path} ${d.message}`).join("; ");
    throw badRequest(`invalid instance: ${summary} (url ${request.url}); give the url alone or parts that match it`, mismatches);
  }
  return { url: request.url, ...read };
}

function fromParts(request: RegisterInstanceRequest): Address {
  const target = request.host ?? request.ip;
  if (target === undefined) {
    throw badRequest("invalid instance: give a url, or a host or ip (with optional scheme, port and path)", [
      { path: "/url", message: "is required when neither host nor ip is given" },
    ]);
  }
  const scheme = request.scheme ?? "http";
  const hostPart = target.includes(":") ? `[${target}]` : target;
  const path = request.path === undefined || request.path === "" || request.path.startsWith("/") ? (request.path ?? "") : `/${request.path}`;
  const url = `${scheme}://${hostPart}${request.port !== undefined ? `:${request.port}` : ""}${path}`;
  if (!URL.canParse(url)) {
    throw badRequest(`invalid instance: the parts make "${url}", which is not a URL`, [{ path: "/host", message: "does not make a valid URL" }]);
  }
  assertUrl(url, request.scheme !== undefined ? "/scheme" : "/host", INSTANCE_URL_SCHEMES);
  return {
    url,
    scheme,
    ...(request.host !== undefined ? { host: request.host } : {}),
    ...(request.ip !== undefined ? { ip: request.ip } : {}),
    ...(request.port !== undefined ? { port: request.port } : {}),
    ...(path !== "" ? { path } : {}),
  };
}

/** The address a registration names, checked: where the registry may send health checks. Its nodeUrl is checked too. */
export function resolveAddress(request: RegisterInstanceRequest): Address {
  if (request.nodeUrl !== undefined) assertUrl(request.nodeUrl, "/nodeUrl", NODE_URL_SCHEMES);
  return request.url !== undefined ? fromUrl({ ...request, url: request.url }) : fromParts(request);
}
