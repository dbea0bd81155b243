import { test } from "node:test";
import assert from "node:assert/strict";
import { addressLabel, addressOfLabel, dnsAnswer, type DnsCatalog } from "../src/dns/answers.ts";
import { dnsCatalog, publicSlugMatches } from "../src/app/dns.ts";
import type { Instance } from "../src/contract/schemas.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const instance = (id: string, slug: string, ip: string, status: Instance["status"] = "Healthy", tags: string[] = []): Instance =>
  ({ id, slug, url: `http://${ip}:80`, ip, port: 80, scheme: "http", tags, status, statusCause: "registered", createdAt: T0, updatedAt: T0 });
const settings = { domain: "registry", ttl: 5, negativeTtl: 5 };

test("dns - an address and its .addr label name each other, IPv4 and IPv6", () => {
  assert.equal(addressLabel("10.0.0.1"), "0a000001");
  assert.equal(addressOfLabel("0a000001"), "10.0.0.1");
  assert.equal(addressLabel("fd00::5"), "fd000000000000000000000000000005");
  assert.equal(addressOfLabel("fd000000000000000000000000000005"), "fd00:0000:0000:0000:0000:0000:0000:0005");
  assert.equal(addressLabel("::ffff:10.0.0.1"), undefined, "IPv4-mapped forms get no label of their own");
  assert.equal(addressOfLabel("zz"), undefined);
});

test("dns - a secured registry answers only the slugs REGISTRY_DNS_PUBLIC names, and no node; an open one everything", () => {
  const instances = { ofSlugInAnyCase: (slug: string) => (slug === "web-svc" || slug === "billing-svc" ? [instance("i1", slug, "10.0.0.1")] : []) };
  const nodes = { get: () => undefined, entryKeys: () => [][Symbol.iterator](), onChange: () => undefined };
  const secured = dnsCatalog({ policyFile: "policy.json", dnsPublicSlugs: ["web-*"] }, instances as never, nodes as never);
  assert.equal(dnsAnswer({ name: "web-svc.service.registry", type: "A" }, secured, settings).rcode, "NOERROR");
  assert.equal(dnsAnswer({ name: "billing-svc.service.registry", type: "A" }, secured, settings).rcode, "REFUSED", "not public: refused, whether it exists or not");
  assert.equal(dnsAnswer({ name: "ghost-svc.service.registry", type: "A" }, secured, settings).rcode, "REFUSED");
  assert.equal(dnsAnswer({ name: "node-1.node.registry", type: "A" }, secured, settings).rcode, "REFUSED");
  const open = dnsCatalog({ dnsPublicSlugs: [] }, instances as never, nodes as never);
  assert.equal(dnsAnswer({ name: "billing-svc.service.registry", type: "A" }, open, settings).rcode, "NOERROR");
  assert.equal(dnsAnswer({ name: "ghost-svc.service.registry", type: "A" }, open, settings).rcode, "NXDOMAIN");
  assert.ok(publicSlugMatches("Web-Svc", "web-svc") && !publicSlugMatches("web", "web-svc") && publicSlugMatches("*", "anything"));
});

test("dns - tags that are not DNS labels cannot be asked for; the rest match in any case", () => {
  const catalog: DnsCatalog = {
    instancesOf: () => [instance("i1", "s", "10.0.0.1", "Healthy", ["Blue", "v 2"]), instance("i2", "s", "10.0.0.2", "Healthy", ["green"])],
    nodeNamed: () => undefined,
    servesSlug: () => true,
    servesNodes: true,
  };
  const addresses = (name: string) => dnsAnswer({ name, type: "A" }, catalog, settings).answers.map((a) => ("data" in a ? a.data : undefined));
  assert.deepEqual(addresses("blue.s.service.registry"), ["10.0.0.1"]);
  assert.deepEqual(addresses("v 2.s.service.registry"), ["10.0.0.1"], "a label may hold a space on the wire; dig cannot ask it, a library can");
  assert.deepEqual(addresses("red.s.service.registry"), []);
});
