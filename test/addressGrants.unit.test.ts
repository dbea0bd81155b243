import { test } from "node:test";
import assert from "node:assert/strict";
import { addressGranted, grantsOverlap, parseGrant, type AddressGrant } from "../src/domain/addressGrants.ts";
import { resolveAddress } from "../src/domain/address.ts";

const grant = (text: string): AddressGrant => {
  const g = parseGrant(text);
  if (typeof g === "string") throw new Error(g);
  return g;
};
const granted = (grants: string[], request: Parameters<typeof resolveAddress>[0]) => addressGranted(grants.map(grant), resolveAddress(request));

test("address grants - a CIDR block, a host name and an IPv6 block each cover their addresses, on their ports", () => {
  const grants = ["10.20.0.0/24", "order.internal:8080", "127.0.0.1:9000-9499", "[fd00::/64]:443"];
  for (const url of ["http://10.20.0.99:8080", "tcp://10.20.0.1:5432", "http://Order.Internal:8080/x", "http://127.0.0.1:9000", "https://[fd00::5]/", "grpc://[::ffff:10.20.0.7]:1"]) {
    assert.ok(granted(grants, { url }), url);
  }
  assert.ok(granted(grants, { host: "order.internal", port: 8080 }));
  assert.ok(granted(["10.0.0.1:443"], { url: "wss://10.0.0.1/feed" }), "wss is reached on 443, as a tcp check tries it");
  assert.equal(granted(["10.0.0.1:443"], { url: "ws://10.0.0.1/feed" }), false);
});

test("address grants - outside every grant is not covered", () => {
  const grants = ["10.20.0.0/24", "order.internal:8080", "127.0.0.1:9000-9499"];
  for (const url of [
    "http://10.20.1.1:8080",
    "http://order.internal:8081",
    "http://order.internal", // port 80
    "http://127.0.0.1:4222",
    "tcp://127.0.0.1", // no port: only an all-ports grant covers it
    "http://[::1]:9001",
    "http://order.internal.evil.example:8080",
  ]) {
    assert.equal(granted(grants, { url }), false, url);
  }
  // A host beside an IP: both must be granted, since a check probes the IP.
  assert.equal(granted(grants, { host: "order.internal", ip: "127.0.0.2", port: 8080 }), false);
});

test("address grants - what does not read as a grant says why; overlaps are found by address and port", () => {
  for (const bad of ["10.0.0.0/33", "10.0.0.1:0", "10.0.0.1:9-8", "0177.0.0.1", "2130706433", "0x7f", "a b", "[fd00::", "host/8"]) {
    assert.equal(typeof parseGrant(bad), "string", bad);
  }
  assert.ok(grantsOverlap(grant("10.20.0.0/16"), grant("10.20.3.4:80")));
  assert.ok(grantsOverlap(grant("127.0.0.1:9000-9499"), grant("127.0.0.0/8:9499")));
  assert.equal(grantsOverlap(grant("127.0.0.1:9000-9499"), grant("127.0.0.1:9500-9999")), false);
  assert.equal(grantsOverlap(grant("10.20.0.0/24"), grant("10.20.1.0/24")), false);
  assert.ok(grantsOverlap(grant("Order.internal"), grant("order.internal:8080")));
  assert.equal(grantsOverlap(grant("order.internal"), grant("10.0.0.1")), false);
  assert.equal(grantsOverlap(grant("::/0"), grant("0.0.0.0/0")), false, "IPv4 and IPv6 blocks are apart");
});
