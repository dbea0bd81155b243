/**
 * Where an instance can be called: its URL and the parts it is made of. A registration
 * gives either a `url` (the parts are read from it) or the parts (the URL is built).
 */
import type { RegisterInstanceRequest } from "../contract/schemas.ts";
import { badRequest, type ErrorDetail } from "../contract/errors.ts";

export type Address = { url: string; scheme?: string; host?: string; ip?: string; port?: number; path?: string };
export const ADDRESS_FIELDS = ["url", "scheme", "host", "ip", "port", "path"] as const;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const isIp = (hostname: string) => IPV4.test(hostname) || hostname.includes(":");

/** The URL's canonical form, so that `http://a:80/` and `http://a:80` are one address. */
export function normalizeUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

function fromUrl(request: RegisterInstanceRequest & { url: string }): Address {
  let parsed: URL;
  try {
    parsed = new URL(request.url);
  } catch {
    throw badRequest(`invalid instance: url "${request.url}" is not an absolute URL such as http://user-svc:8080`, [
      { path: "/url", message: "is not an absolute URL" },
    ]);
  }
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
      mismatches.push({ path: `/${field}`, message: `${JSON.stringify(given)} does not match the url's ${JSON.stringify(read[field] ?? null)}` });
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
  try {
    new URL(url);
  } catch {
    throw badRequest(`invalid instance: the parts make "${url}", which is not a URL`, [{ path: "/host", message: "does not make a valid URL" }]);
  }
  return {
    url,
    scheme,
    ...(request.host !== undefined ? { host: request.host } : {}),
    ...(request.ip !== undefined ? { ip: request.ip } : {}),
    ...(request.port !== undefined ? { port: request.port } : {}),
    ...(path !== "" ? { path } : {}),
  };
}

export function resolveAddress(request: RegisterInstanceRequest): Address {
  return request.url !== undefined ? fromUrl({ ...request, url: request.url }) : fromParts(request);
}
