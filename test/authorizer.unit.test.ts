import { test } from "node:test";
import assert from "node:assert/strict";
import type { RegistryApi } from "../src/contract/api.ts";
import type { Instance } from "../src/contract/schemas.ts";
import { authorize } from "../src/access/authorizer.ts";
import type { Policy } from "../src/access/policy.ts";

const policy: Policy = { accounts: { VIEWER: { role: "viewer" }, SVC: { role: "service", slug: "a-svc", addresses: ["127.0.0.1:9000"] } } };
const instance = (statusCause: Instance["statusCause"]): Instance => ({
  id: "a-svc_1",
  url: "http://127.0.0.1:9000",
  slug: "a-svc",
  tags: [],
  status: "Unreachable",
  statusCause,
  details: "GET http://127.0.0.1:9000/: connect ECONNREFUSED 127.0.0.1:9000",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
});

test("authorizer - a service reads details only where someone stated them; a check's answer, kept through its node's outage, is left out", async () => {
  let current = instance("check-unreachable");
  const api = { getInstance: () => Promise.resolve({ instance: current }) } as unknown as RegistryApi;
  const owners = { instances: { sync: () => Promise.resolve(), get: () => current, idOfUrl: () => undefined }, derivedId: () => "inst_x" };
  const authorized = authorize(api, () => policy, owners);
  const read = async (account: string) => (await authorized.getInstance({ id: "a-svc_1" }, { caller: { account } })).instance;
  for (const cause of ["check-unreachable", "node-offline", "node-online", "lease-renewed"] as const) {
    current = instance(cause);
    assert.equal((await read("SVC")).details, undefined, cause);
    assert.equal((await read("SVC")).statusCause, cause);
    assert.match((await read("VIEWER")).details!, /ECONNREFUSED/, `${cause}, to a viewer`);
  }
  for (const cause of ["registered", "reported", "operator", "lease-expired"] as const) {
    current = instance(cause);
    assert.ok((await read("SVC")).details, cause);
  }
});
