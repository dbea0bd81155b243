import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { instanceKey, idOfInstanceKey, isValidId } from "../src/contract/ids.ts";
import { namesFor } from "../src/contract/names.ts";
import { renderSchemas, SCHEMAS_DIR } from "../src/contract/writeSchemas.ts";
import { configFromEnv, defaultConfig } from "../src/config.ts";
import { headers } from "@nats-io/transport-node";
import { isKvDeletion, kvKeyOf, kvOperationOf, kvStream, kvSubject, markKvDeletion } from "../src/nats/kvSubjects.ts";

test("schemas - the files in schemas/ are what the TypeBox definitions generate (run make schemas)", async () => {
  const expected = renderSchemas();
  const onDisk = (await readdir(SCHEMAS_DIR)).filter((f) => f.endsWith(".schema.json")).sort();
  assert.deepEqual(onDisk, Object.keys(expected).sort());
  for (const [file, text] of Object.entries(expected)) {
    assert.equal(await readFile(`${SCHEMAS_DIR}${file}`, "utf8"), text, `schemas/${file} is stale: run make schemas`);
  }
});

test("key rule - letters, digits, - and _ only, 1 to 128 characters", () => {
  for (const ok of ["a", "inst_12345", "user-svc-v1", "A".repeat(128)]) assert.ok(isValidId(ok), ok);
  for (const bad of ["", "a.b", "a*", "a>", "a b", "a/b", "é", "A".repeat(129)]) assert.ok(!isValidId(bad), bad);
});

test("key rule - instance keys are <slug>.<id>, _ without a slug", () => {
  assert.equal(instanceKey("user-svc", "inst_1"), "user-svc.inst_1");
  assert.equal(instanceKey(undefined, "inst_1"), "_.inst_1");
  assert.equal(idOfInstanceKey("user-svc.inst_1"), "inst_1");
});

test("names - the default prefix gives DESIGN.md's names; another prefix its own", () => {
  const n = namesFor("registry");
  assert.equal(n.eventsStream, "REGISTRY_EVENTS");
  assert.deepEqual(n.buckets, { definition: "registry_definitions", instance: "registry_instances", node: "registry_nodes", nodeInstance: "registry_node_instances" });
  assert.equal(n.eventSubject("instance", "inst_1"), "registry.events.instance.inst_1");
  const other = namesFor("acme.reg");
  assert.equal(other.eventsStream, "ACME_REG_EVENTS");
  assert.equal(other.buckets.instance, "acme_reg_instances");
  assert.throws(() => namesFor("a.*"), /REGISTRY_PREFIX/);
});

test("config - defaults work on one machine; the environment overrides them", () => {
  assert.deepEqual(configFromEnv({}), defaultConfig());
  const c = configFromEnv({ NATS_URL: "nats://127.0.0.1:4333", REGISTRY_PREFIX: "reg2", REGISTRY_MAX_REQUEST_BYTES: "1024", LOG_LEVEL: "debug" });
  assert.equal(c.natsUrl, "nats://127.0.0.1:4333");
  assert.equal(c.prefix, "reg2");
  assert.equal(c.maxRequestBytes, 1024);
  assert.equal(c.logLevel, "debug");
  assert.equal(configFromEnv({ REGISTRY_REPLY_AFTER: "append" }).replyAfter, "append");
  assert.deepEqual(configFromEnv({ REGISTRY_HTTP_ADDR: "[::1]:8080" }).httpAddr, { host: "::1", port: 8080 });
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "off" }).httpAddr, "off");
  // The node's URL follows the HTTP face unless OB_SELF_URL says otherwise (a moved face left it pointing where nothing listened).
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "127.0.0.1:18080" }).selfUrl, "http://127.0.0.1:18080");
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "[::1]:8080" }).selfUrl, "http://[::1]:8080");
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "0.0.0.0:8080" }).selfUrl, "http://127.0.0.1:8080");
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "127.0.0.1:18080", OB_SELF_URL: "http://10.0.0.5:80" }).selfUrl, "http://10.0.0.5:80");
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "127.0.0.1:0" }).selfUrl, defaultConfig().selfUrl, "a port picked at start is not known yet");
  assert.equal(configFromEnv({ REGISTRY_HTTP_ADDR: "off" }).selfUrl, defaultConfig().selfUrl);
  const dns = configFromEnv({ REGISTRY_DNS_ADDR: "[::1]:53", REGISTRY_DNS_DOMAIN: "Consul.Internal.", REGISTRY_DNS_TTL: "0", REGISTRY_DNS_PUBLIC: "web-*, api-svc" });
  assert.deepEqual([dns.dnsAddr, dns.dnsDomain, dns.dnsTtlSeconds, dns.dnsPublicSlugs], [{ host: "::1", port: 53 }, "consul.internal", 0, ["web-*", "api-svc"]]);
  assert.equal(configFromEnv({ REGISTRY_DNS_ADDR: "off" }).dnsAddr, "off");
  const records = configFromEnv({ REGISTRY_NODE_RECORD_MS: "60000", REGISTRY_LEASE_RECORD_MS: "1800000" });
  assert.deepEqual([records.nodeRecordEveryMs, records.leaseRecordEveryMs], [60_000, 1_800_000]);
});

test("config - bad values are refused in one message naming each variable", () => {
  assert.throws(
    () => configFromEnv({ REGISTRY_PREFIX: "a b", REGISTRY_MAX_REQUEST_BYTES: "lots", NATS_USER: "u", REGISTRY_REPLY_AFTER: "soon", REGISTRY_HTTP_ADDR: "everywhere", REGISTRY_LEASE_RECORD_MS: "0", REGISTRY_DNS_ADDR: "8600", REGISTRY_DNS_DOMAIN: "bad_domain!", REGISTRY_DNS_TTL: "-1" }),
    (err: Error) =>
      /REGISTRY_DNS_ADDR "8600" must be host:port/.test(err.message) &&
      /REGISTRY_DNS_DOMAIN "bad_domain!" must be a domain name/.test(err.message) &&
      /REGISTRY_DNS_TTL "-1" must be a whole number, 0 or more/.test(err.message) &&
      /REGISTRY_LEASE_RECORD_MS/.test(err.message) &&
      /REGISTRY_PREFIX/.test(err.message) &&
      /REGISTRY_MAX_REQUEST_BYTES/.test(err.message) &&
      /NATS_USER and NATS_PASSWORD/.test(err.message) &&
      /REGISTRY_REPLY_AFTER "soon" must be projection .* or append/.test(err.message) &&
      /REGISTRY_HTTP_ADDR "everywhere" must be host:port .* or off/.test(err.message),
  );
});

test("config - an offline window under two heartbeat intervals is refused, saying the least it may be; two intervals and the default three start", () => {
  assert.throws(
    () => configFromEnv({ REGISTRY_HEARTBEAT_INTERVAL_MS: "5000", REGISTRY_OFFLINE_AFTER_MS: "6000" }),
    (err: Error) => /REGISTRY_OFFLINE_AFTER_MS \(6000\) must be at least two heartbeat intervals \(10000 ms at REGISTRY_HEARTBEAT_INTERVAL_MS 5000\)/.test(err.message),
  );
  assert.throws(() => configFromEnv({ REGISTRY_OFFLINE_AFTER_MS: "9999" }), /REGISTRY_OFFLINE_AFTER_MS \(9999\) must be at least two heartbeat intervals/);
  assert.equal(configFromEnv({ REGISTRY_OFFLINE_AFTER_MS: "10000" }).offlineAfterMs, 10_000);
  assert.equal(configFromEnv({ REGISTRY_HEARTBEAT_INTERVAL_MS: "2000" }).offlineAfterMs, 6000);
});

test("names - an event subject reads back as the entity and id it was built from, under any prefix; other subjects read as none", () => {
  for (const prefix of ["registry", "acme.registry"]) {
    const names = namesFor(prefix);
    for (const [entity, id] of [["instance", "inst_1"], ["node", "n-1"], ["protection", "expiry"]] as const) {
      assert.deepEqual(names.eventSubjectParts(names.eventSubject(entity, id)), { entity, id });
    }
    assert.equal(names.eventSubjectParts(`${prefix}.instance.register`), undefined);
    assert.equal(names.eventSubjectParts(`${prefix}.events.instance`), undefined);
  }
});

test("KV wire grammar - a bucket's stream and key subjects, a key read back from its subject, and what a message does to its key", () => {
  assert.equal(kvStream("registry_instances"), "KV_registry_instances");
  assert.equal(kvSubject("registry_instances", "user-svc.inst_1"), "$KV.registry_instances.user-svc.inst_1");
  assert.equal(kvKeyOf("registry_instances", "$KV.registry_instances.user-svc.inst_1"), "user-svc.inst_1");
  assert.equal(kvKeyOf("registry_instances", "$KV.registry_nodes.n1"), undefined);
  const h = headers();
  assert.equal(kvOperationOf(h), "PUT");
  assert.equal(isKvDeletion(undefined), false);
  markKvDeletion(h);
  assert.equal(kvOperationOf(h), "DEL");
  assert.ok(isKvDeletion(h));
  const purged = headers();
  purged.set("KV-Operation", "PURGE");
  assert.ok(isKvDeletion(purged));
});
