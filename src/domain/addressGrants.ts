/**
 * Address grants: the hosts and ports a service may register instances at, as the policy
 * gives them. A grant is a host name, an IP address or a CIDR block (IPv6 in brackets when a
 * port follows), with an optional port or port range: `10.20.0.0/24`, `order.internal:8080`,
 * `127.0.0.1:9000-9499`, `[fd00::/64]:443`, `fd00::/64`. Checks probe an instance's own
 * address only, so a service's checks reach its granted addresses and nothing else.
 *
 * Matching is literal: an IP address matches IP grants only, a host name only a grant of that
 * name (case-insensitive). Spellings a resolver would turn into an IPv4 address (`2130706433`,
 * `0x7f.1`, `127.1`) never get here: the address is refused first (domain/address.ts).
 */
import { defaultPortOf, type Address } from "./address.ts";

type PortRange = readonly [number, number];
export type AddressGrant =
  | { kind: "ip"; text: string; bits: 32 | 128; base: bigint; prefix: number; ports: PortRange }
  | { kind: "name"; text: string; name: string; ports: PortRange };

const ALL_PORTS: PortRange = [1, 65535];
const IPV4_PART = /^(0|[1-9]\d{0,2})$/;
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
/** A DNS name whose last label starts with a letter: never something a resolver reads as a number. */
const HOST_NAME = new RegExp(`^(?:${LABEL}\\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`, "i");

function ipv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => IPV4_PART.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => (n << 8n) | BigInt(p), 0n);
}

function ipv6(text: string): bigint | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text) || text.split("::").length > 2) return undefined;
  let tail = text;
  let v4: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    v4 = ipv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = "", rest] = tail.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const missing = 8 - left.length - right.length;
  if (rest === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array<string>(rest === undefined ? 0 : missing).fill("0"), ...right];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  const n = all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  return v4 === undefined ? n : (n & ~0xffffffffn) | v4;
}

const V4_MAPPED = 0xffffn << 32n;
/** An IP address as (width, value); IPv4-mapped IPv6 addresses are their IPv4 address. */
function ipOf(text: string): { bits: 32 | 128; value: bigint } | undefined {
  const v4 = ipv4(text);
  if (v4 !== undefined) return { bits: 32, value: v4 };
  const v6 = ipv6(text);
  if (v6 === undefined) return undefined;
  return v6 >> 32n === 0xffffn ? { bits: 32, value: v6 - V4_MAPPED } : { bits: 128, value: v6 };
}

function portsOf(text: string | undefined): PortRange | string {
  if (text === undefined) return ALL_PORTS;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (!m || lo < 1 || hi > 65535 || lo > hi) return `port ${text} is not a port (1 to 65535) or a range of them (9000-9099)`;
  return [lo, hi];
}

/** Reads one grant; a string says what is wrong with it. */
export function parseGrant(text: string): AddressGrant | string {
  let host: string;
  let port: string | undefined;
  if (text.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
    if (!m) return "an IPv6 grant is [address] or [address/prefix], then :port if any";
    host = m[1]!;
    port = m[2];
  } else if ((text.match(/:/g) ?? []).length > 1) {
    host = text; // bare IPv6, no port
  } else {
    const colon = text.indexOf(":");
    host = colon < 0 ? text : text.slice(0, colon);
    port = colon < 0 ? undefined : text.slice(colon + 1);
  }
  const ports = portsOf(port);
  if (typeof ports === "string") return ports;
  const [address = "", prefixText] = host.split("/");
  const ip = ipOf(address);
  if (ip) {
    const prefix = prefixText === undefined ? ip.bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= ip.bits)) return `prefix /${prefixText} is not 0 to ${ip.bits}`;
    const shift = BigInt(ip.bits - prefix);
    return { kind: "ip", text, bits: ip.bits, base: (ip.value >> shift) << shift, prefix, ports };
  }
  if (prefixText !== undefined || !HOST_NAME.test(address)) {
    return `${host} is neither an IP address (dotted decimal, or IPv6), a CIDR block, nor a host name whose last label starts with a letter`;
  }
  return { kind: "name", text, name: address.toLowerCase(), ports };
}

const portsMeet = (a: PortRange, b: PortRange) => a[0] <= b[1] && b[0] <= a[1];

function inBlock(grant: AddressGrant & { kind: "ip" }, ip: { bits: number; value: bigint }, prefix: number = grant.bits): boolean {
  if (ip.bits !== grant.bits) return false;
  const shift = BigInt(grant.bits - Math.min(prefix, grant.prefix));
  return ip.value >> shift === grant.base >> shift;
}

/** Whether two grants have an address in common: two services granted one address could squat each other's. */
export function grantsOverlap(a: AddressGrant, b: AddressGrant): boolean {
  if (!portsMeet(a.ports, b.ports)) return false;
  if (a.kind === "name" || b.kind === "name") return a.kind === "name" && b.kind === "name" && a.name === b.name;
  return inBlock(a, { bits: b.bits, value: b.base }, b.prefix);
}

/** The hosts an address names (its url's, and a host or ip given beside it) and the port it is reached on. */
function targetsOf(address: Address): { hosts: string[]; port: number | undefined } {
  const hostname = URL.canParse(address.url) ? new URL(address.url).hostname.replace(/^\[(.*)\]$/, "$1") : "";
  const hosts = [...new Set([hostname, address.host, address.ip].filter((h): h is string => h !== undefined))];
  return { hosts, port: address.port ?? defaultPortOf(address.scheme) };
}

/** Whether `grant` covers `host` on `port` (undefined: a port the scheme does not fix, which only an all-ports grant covers). */
function covers(grant: AddressGrant, host: string, port: number | undefined): boolean {
  const portOk = port === undefined ? grant.ports[0] === ALL_PORTS[0] && grant.ports[1] === ALL_PORTS[1] : port >= grant.ports[0] && port <= grant.ports[1];
  if (!portOk) return false;
  if (grant.kind === "name") return host.toLowerCase() === grant.name;
  const ip = ipOf(host);
  return ip !== undefined && inBlock(grant, ip);
}

/** Whether every host the address names, on its port, is inside one of the grants. */
export function addressGranted(grants: readonly AddressGrant[], address: Address): boolean {
  const { hosts, port } = targetsOf(address);
  return hosts.length > 0 && hosts.every((host) => grants.some((g) => covers(g, host, port)));
}
