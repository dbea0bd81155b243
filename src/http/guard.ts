/**
 * What keeps web pages out of the HTTP face. A browser lets any page send requests to a
 * registry on loopback: forms and `no-cors` fetches to it (cross-site request forgery), or,
 * once the page's own host name resolves to 127.0.0.1, as if it were the registry's own page
 * (DNS rebinding). So the face answers only the host names it serves, refuses requests a page
 * of another origin sent, and takes a write only as `application/json`, which no page of
 * another origin can send without the CORS preflight this face never grants.
 */
import { RegistryError } from "../contract/errors.ts";

/** REGISTRY_HTTP_HOSTS: the host names (no port) the face answers; "any" answers every one. */
export type ServedHosts = readonly string[] | "any";

/** Headers every response carries: no page may frame the face, nor sniff a type, nor learn where it came from. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
};

/** The host name of a Host header, lower-cased, without port or final dot; undefined when the header is not `host[:port]`. */
function hostName(header: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.exec(header);
  return m ? m[1]!.toLowerCase().replace(/\.$/, "") : undefined;
}

/** A request to a host name this face does not serve (a DNS-rebinding page, or a name not configured): 421. */
export function refuseHost(host: string | undefined, served: ServedHosts): RegistryError | undefined {
  if (served === "any") return undefined;
  const name = host === undefined ? undefined : hostName(host);
  if (name !== undefined && served.includes(name)) return undefined;
  return new RegistryError(
    421,
    `this registry does not serve the host ${host === undefined ? "(none named)" : JSON.stringify(host)}; it answers ${served.join(", ")} (REGISTRY_HTTP_HOSTS): add the name it is reached by to REGISTRY_HTTP_HOSTS`,
  );
}

/**
 * A request a page of another origin sent: 403. Browsers name the page in `Origin` (on every
 * request but simple GETs), and say in `Sec-Fetch-Site` whether it is another site's (on every
 * request, an image's GET too). Same-origin pages (the dashboard) pass, and so does following a
 * link to the dashboard (a navigation), and programs, which send neither header.
 */
export function refuseOrigin(req: { origin: string | undefined; host: string | undefined; fetchSite: string | undefined; fetchMode: string | undefined }): RegistryError | undefined {
  const { origin, host } = req;
  if (origin !== undefined) {
    const url = URL.canParse(origin) ? new URL(origin) : undefined;
    const sameOrigin = url !== undefined && (url.protocol === "http:" || url.protocol === "https:") && host !== undefined && url.host === host.toLowerCase();
    if (!sameOrigin) return refusedPage(JSON.stringify(origin));
  }
  if ((req.fetchSite === "cross-site" || req.fetchSite === "same-site") && req.fetchMode !== "navigate") return refusedPage(`of another site (Sec-Fetch-Site: ${req.fetchSite})`);
  return undefined;
}

const refusedPage = (which: string) =>
  new RegistryError(403, `requests from the web page ${which.startsWith('"') ? `at ${which}` : which} are refused: only the registry's own pages may call it from a browser; call it from a program (no Origin header) or from the dashboard`);

/** A content type that is JSON: `application/json`, parameters (charset) allowed. */
export const isJson = (contentType: string | undefined) => contentType !== undefined && /^application\/json\s*(;|$)/i.test(contentType.trim());

/**
 * A write that is not `application/json`: 415. A body must be JSON, and so must a request to a
 * route that changes state even without a body (`POST .../renew`), since a page of any origin
 * may send a bodiless POST.
 */
export function refuseContentType(req: { method: string; contentType: string | undefined; hasBody: boolean; changesState: boolean }): RegistryError | undefined {
  if (req.method === "GET" || req.method === "HEAD" || req.method === "OPTIONS") return undefined;
  if (!req.hasBody && !req.changesState) return undefined;
  if (isJson(req.contentType)) return undefined;
  return new RegistryError(
    415,
    `${req.method} needs Content-Type: application/json (${req.contentType ? `this request is ${req.contentType}` : "this request names none"}); ${req.hasBody ? "send the body as JSON with that header" : "send that header even without a body"}`,
  );
}
