import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegistryError } from "../src/contract/errors.ts";
import { callerOfBearer, loadPolicy, nodeUrlBindings, policyWarnings, principalOf, tokenHash, type Policy } from "../src/access/policy.ts";

const policy: Policy = { accounts: { VIEWER: { role: "viewer" } }, httpTokens: { [tokenHash("t-1")]: { account: "VIEWER", name: "grafana" } } };

test("policy - a bearer token stands for its account, named by its holder; anything else is a 401 that says how to get one", () => {
  assert.deepEqual(callerOfBearer(policy, "Bearer t-1"), { account: "VIEWER", name: "http grafana" });
  for (const header of [undefined, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer t-2", "bearer t-1", "Bearer t-1 extra"]) {
    assert.throws(() => callerOfBearer(policy, header), (err: unknown) => err instanceof RegistryError && err.code === 401 && /registry auth add-token/.test(err.message), String(header));
  }
});

test("policy - a token for an account the policy does not list, or a hash that is not a SHA-256, stops the policy from loading", async () => {
  const dir = await mkdtemp(join(tmpdir(), "registry-policy-"));
  try {
    const file = join(dir, "policy.json");
    await writeFile(file, JSON.stringify({ accounts: { VIEWER: { role: "viewer" } }, httpTokens: { [tokenHash("x")]: { account: "NOBODY", name: "n" } } }));
    await assert.rejects(loadPolicy(file), /httpTokens\/[0-9a-f]{64}\/account names account NOBODY, which has no entry in accounts/);
    await writeFile(file, JSON.stringify({ accounts: {}, httpTokens: { "plain-token": { account: "VIEWER", name: "n" } } }));
    await assert.rejects(loadPolicy(file), /REGISTRY_POLICY/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("policy - grants that do not read, grants two services share, or slugs whose ids would meet stop the policy from loading", async () => {
  const dir = await mkdtemp(join(tmpdir(), "registry-policy-"));
  try {
    const file = join(dir, "policy.json");
    const load = (accounts: object) => writeFile(file, JSON.stringify({ accounts })).then(() => loadPolicy(file));
    const service = (slug: string, addresses: string[]) => ({ role: "service", slug, addresses });
    await assert.rejects(load({ A: service("a-svc", ["10.0.0.0/33"]) }), /accounts\/A\/addresses\/0 "10\.0\.0\.0\/33": prefix \/33 is not 0 to 32/);
    await assert.rejects(
      load({ A: service("a-svc", ["10.20.0.0/24"]), B: service("b-svc", ["10.20.0.99:8080"]) }),
      /accounts\/B\/addresses 10\.20\.0\.99:8080 overlaps 10\.20\.0\.0\/24 of a-svc \(account A\): grants of different services must not share an address/,
    );
    await assert.rejects(load({ A: service("order", []), B: service("order_svc", []) }), /order_svc and order \(account A\) would share ids: a service's ids start with order_svc_/);
    // One service in two accounts may hold one grant; different ports of one host are apart.
    const ok = await load({ A: service("a-svc", ["10.20.0.0/24"]), A2: service("a-svc", ["10.20.0.0/24"]), B: service("b-svc", ["10.20.1.1:80", "order-svc"]), C: service("order-svc", []) });
    assert.deepEqual(ok.accounts.A2?.addresses, ["10.20.0.0/24"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("policy - an agent account binds its users to nodes; a binding elsewhere, or a token acting as an unbound user, stops the policy from loading", async () => {
  const dir = await mkdtemp(join(tmpdir(), "registry-policy-"));
  try {
    const file = join(dir, "policy.json");
    const agents = { role: "agent", nodes: { "agent-node-1": { node: "node-1", url: "http://10.0.0.1:4000" } } };
    await writeFile(file, JSON.stringify({ accounts: { AGENTS: agents, VIEWER: { role: "viewer", nodes: { viewer: { node: "node-9", url: "http://10.0.0.9:4000" } } } } }));
    await assert.rejects(loadPolicy(file), /accounts\/VIEWER\/nodes binds users to nodes, which only an agent account has/);
    await writeFile(file, JSON.stringify({ accounts: { AGENTS: agents }, httpTokens: { [tokenHash("x")]: { account: "AGENTS", name: "n", user: "constructor" } } }));
    await assert.rejects(loadPolicy(file), /httpTokens\/[0-9a-f]{64}\/user names user constructor, which accounts\.AGENTS\.nodes does not bind to a node/);
    await writeFile(file, JSON.stringify({ accounts: { AGENTS: agents }, httpTokens: { [tokenHash("x")]: { account: "AGENTS", name: "rack", user: "agent-node-1" } } }));
    const loaded = await loadPolicy(file);
    const caller = callerOfBearer(loaded, "Bearer x");
    assert.deepEqual(caller, { account: "AGENTS", user: "agent-node-1", name: "http rack" });
    assert.deepEqual(principalOf(loaded, { caller }), { kind: "member", account: "AGENTS", role: "agent", reads: [], node: { id: "node-1", url: "http://10.0.0.1:4000" } });
    assert.deepEqual(principalOf(loaded, { caller: { account: "AGENTS", user: "constructor" } }), { kind: "member", account: "AGENTS", role: "agent", reads: [] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("policy - an agent's node is bound to its URL: a bare node id, one node at two URLs or one URL for two nodes stops the policy from loading; the bindings answer both ways", async () => {
  const dir = await mkdtemp(join(tmpdir(), "registry-policy-"));
  try {
    const file = join(dir, "policy.json");
    const load = async (nodes: object) => (await writeFile(file, JSON.stringify({ accounts: { AGENTS: { role: "agent", nodes } } })), loadPolicy(file));
    await assert.rejects(load({ a1: "node-1" }), /\/accounts\/AGENTS\/nodes\/a1 binds node node-1 but not its URL: write \{"node": "node-1", "url": "<the agent's OB_SELF_URL>"\}/);
    await assert.rejects(load({ a1: { node: "node-1", url: "http://10.0.0.1:4000" }, a2: { node: "node-1", url: "http://10.0.0.2:4000" } }), /\/accounts\/AGENTS\/nodes\/a2 binds node node-1 to http:\/\/10\.0\.0\.2:4000, but \/accounts\/AGENTS\/nodes\/a1 to http:\/\/10\.0\.0\.1:4000: a node has one URL/);
    await assert.rejects(load({ a1: { node: "node-1", url: "http://10.0.0.1:4000" }, a2: { node: "node-2", url: "http://10.0.0.1:4000" } }), /binds http:\/\/10\.0\.0\.1:4000 to node node-2, but \/accounts\/AGENTS\/nodes\/a1 to node node-1: a URL is one node's/);
    await assert.rejects(load({ a1: { node: "node-1", url: "ftp://10.0.0.1" } }), /\/accounts\/AGENTS\/nodes\/a1\/url/);
    // Two users of one node at one URL are one agent's two credentials.
    const policy = await load({ a1: { node: "node-1", url: "http://10.0.0.1:4000" }, a1b: { node: "node-1", url: "http://10.0.0.1:4000" }, a2: { node: "node-2", url: "http://10.0.0.2:4000" } });
    const bindings = nodeUrlBindings(policy);
    assert.equal(bindings.urlOf("node-2"), "http://10.0.0.2:4000");
    assert.equal(bindings.nodeAt("http://10.0.0.1:4000"), "node-1");
    assert.equal(bindings.urlOf("node-3"), undefined);
    assert.equal(nodeUrlBindings(undefined).nodeAt("http://10.0.0.1:4000"), undefined, "no policy binds nothing");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("policy - a service granted no addresses loads, and is named in a warning saying it can register nothing", () => {
  const policy: Policy = { accounts: { A: { role: "service", slug: "a-svc" }, B: { role: "service", slug: "b-svc", addresses: ["10.0.0.0/24"] }, V: { role: "viewer" } } };
  assert.deepEqual(policyWarnings(policy), [`account A (service of a-svc) is granted no addresses, so it can register no instance; list where its instances are in its "addresses"`]);
});
