/**
 * What the DNS face answers, decided from the read models; the wire format is dnsServer.ts's.
 * Names under the domain (`registry.` by default, case-insensitive):
 *
 *   <slug>.service             A / AAAA of the instances that take traffic, SRV of them all
 *   <tag>.<slug>.service       the same, of those with that tag
 *   _<slug>._tcp.service       SRV (RFC 2782), as HAProxy and others ask
 *   <nodeId>.node              the node's address (A / AAAA, or a CNAME to its host name)
 *   <hex address>.addr         the address an SRV target names (Consul's form)
 *
 * Which instances take traffic is pick()'s rule (trafficTargets). An unknown name is NXDOMAIN;
 * a known one with nothing to give (no instance takes traffic, a type it has no data of) is an
 * empty answer with the SOA, whose minimum is the negative-caching time (RFC 2308). A name
 * outside the domain is REFUSED, and so is a slug the configuration does not serve.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Answer } from "dns-packet";
import type { Instance, Node } from "../contract/schemas.ts";
import { NO_SLUG_TOKEN } from "../contract/ids.ts";
import { trafficTargets } from "../domain/instanceHealth.ts";

export type DnsCatalog = {
  /** The instances of the slug spelt so in any case (lower case given); none when it has none. */
  instancesOf(lowerCaseSlug: string): Iterable<Instance>;
  /** The node with this id in any case (lower case given). */
  nodeNamed(lowerCaseId: string): Node | undefined;
  /** Whether DNS answers for this slug (lower case), and for nodes: a secured registry serves only what it is told to. */
  servesSlug(lowerCaseSlug: string): boolean;
  servesNodes: boolean;
};

export type DnsSettings = {
  /** Lower case, without the trailing dot: `registry`. */
  domain: string;
  /** Seconds a positive answer may be cached. */
  ttl: number;
  /** Seconds an empty answer or NXDOMAIN may be cached (the SOA's minimum). */
  negativeTtl: number;
};

export type Rcode = "NOERROR" | "FORMERR" | "NXDOMAIN" | "NOTIMP" | "REFUSED";
export type DnsReply = { rcode: Rcode; answers: Answer[]; authorities: Answer[]; additionals: Answer[] };

const refused = (): DnsReply => ({ rcode: "REFUSED", answers: [], authorities: [], additionals: [] });
const ANSWERED_TYPES = new Set(["A", "AAAA", "SRV", "ANY"]);

/** The port an instance is called on: its own, or its scheme's default. */
function portOf(i: Instance): number | undefined {
  if (i.port !== undefined) return i.port;
  if (i.scheme === "https") return 443;
  if (i.scheme === "http") return 80;
  return undefined;
}

/** An IP address as the one label of its `.addr` name: 8 hex digits for IPv4, 32 for IPv6. */
export function addressLabel(ip: string): string | undefined {
  if (isIPv4(ip)) return ip.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join("");
  if (!isIPv6(ip) || ip.includes(".")) return undefined; // IPv4-mapped forms: not worth a name of their own
  const [head, tail = ""] = ip.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const [h, t] = [groups(head!), groups(tail)];
  const all = ip.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
  return all.map((g) => g.padStart(4, "0")).join("").toLowerCase();
}

/** The address an `.addr` label names, or undefined. */
export function addressOfLabel(label: string): string | undefined {
  if (/^[0-9a-f]{8}$/.test(label)) return (label.match(/../g) ?? []).map((h) => parseInt(h, 16)).join(".");
  if (/^[0-9a-f]{32}$/.test(label)) return (label.match(/.{4}/g) ?? []).join(":");
  return undefined;
}

const addressRecord = (name: string, ip: string, ttl: number): Answer | undefined =>
  isIPv4(ip) ? { type: "A", name, ttl, data: ip } : isIPv6(ip) ? { type: "AAAA", name, ttl, data: ip } : undefined;

export function dnsAnswer(question: { name: string; type: string }, catalog: DnsCatalog, settings: DnsSettings): DnsReply {
  const asked = question.name.replace(/\.$/, ""); // records carry the name as asked; it is looked up in lower case
  const name = asked.toLowerCase();
  const { domain, ttl } = settings;
  if (name !== domain && !name.endsWith(`.${domain}`)) return refused();
  const labels = name === domain ? [] : name.slice(0, -domain.length - 1).split(".");
  const soa: Answer = {
    type: "SOA",
    name: domain,
    ttl: settings.negativeTtl,
    data: { mname: `ns.${domain}`, rname: `hostmaster.${domain}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: settings.negativeTtl },
  };
  const nodata = (): DnsReply => ({ rcode: "NOERROR", answers: [], authorities: [soa], additionals: [] });
  const nxdomain = (): DnsReply => ({ rcode: "NXDOMAIN", answers: [], authorities: [soa], additionals: [] });
  const withData = (answers: Answer[], additionals: Answer[] = []): DnsReply => (answers.length === 0 ? nodata() : { rcode: "NOERROR", answers, authorities: [], additionals });
  const type = question.type;

  if (labels.length === 0) return type === "SOA" || type === "ANY" ? withData([{ ...soa, ttl }]) : nodata();

  // <hex>.addr: the target of an SRV record.
  if (labels.length === 2 && labels[1] === "addr") {
    const ip = addressOfLabel(labels[0]!);
    const record = ip === undefined ? undefined : addressRecord(asked, ip, ttl);
    if (!record) return nxdomain();
    return withData(type === record.type || type === "ANY" ? [record] : []);
  }

  if (labels.length === 2 && labels[1] === "node") {
    if (!catalog.servesNodes) return refused();
    const node = catalog.nodeNamed(labels[0]!);
    if (!node) return nxdomain();
    const host = new URL(node.url).hostname.replace(/^\[|\]$/g, "");
    const record = addressRecord(asked, host, ttl);
    if (record) return withData(type === record.type || type === "ANY" ? [record] : []);
    return withData([{ type: "CNAME", name: asked, ttl, data: host }]);
  }

  // <slug>.service, <tag>.<slug>.service, _<slug>._tcp.service
  let slug: string | undefined;
  let tag: string | undefined;
  let srvOnly = false;
  if (labels.length === 3 && labels[2] === "service" && labels[1] === "_tcp" && labels[0]!.startsWith("_")) [slug, srvOnly] = [labels[0]!.slice(1), true];
  else if (labels.length === 2 && labels[1] === "service") slug = labels[0];
  else if (labels.length === 3 && labels[2] === "service") [tag, slug] = [labels[0], labels[1]];
  if (slug === undefined || slug === "" || slug === NO_SLUG_TOKEN) return nxdomain();
  if (!catalog.servesSlug(slug)) return refused();
  const instances = [...catalog.instancesOf(slug)];
  if (instances.length === 0) return nxdomain();
  if (!ANSWERED_TYPES.has(type) || (srvOnly && type !== "SRV" && type !== "ANY")) return nodata();
  const tagged = tag === undefined ? instances : instances.filter((i) => i.tags.some((t) => t.toLowerCase() === tag));
  const targets = trafficTargets(tagged);

  const answers: Answer[] = [];
  const additionals: Answer[] = [];
  if (type === "A" || type === "AAAA" || type === "ANY") {
    const addresses = new Set<string>(); // instances on one address are one record: an RRset holds no duplicates (RFC 2181)
    for (const i of targets) {
      const record = i.ip === undefined || addresses.has(i.ip) ? undefined : addressRecord(asked, i.ip, ttl);
      if (record && (type === "ANY" || record.type === type)) answers.push(record);
      if (i.ip !== undefined) addresses.add(i.ip);
    }
  }
  if (type === "SRV" || type === "ANY") {
    for (const i of targets) {
      const port = portOf(i);
      if (port === undefined) continue;
      const label = i.ip === undefined ? undefined : addressLabel(i.ip);
      const target = label !== undefined ? `${label}.addr.${domain}` : i.host;
      if (target === undefined) continue;
      answers.push({ type: "SRV", name: asked, ttl, data: { priority: 1, weight: 1, port, target } });
      const record = label !== undefined && i.ip !== undefined && !additionals.some((a) => a.name === target) ? addressRecord(target, i.ip, ttl) : undefined;
      if (record) additionals.push(record);
    }
  }
  return withData(answers, additionals);
}
