/**
 * The secure layout of secure/: nats-server started with secure/nats.conf, the registry with
 * secure/policy.json, and a connection per role. Every allowed action works; every forbidden
 * one is refused by the server or answered 403, and nothing it asked for is written.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { tokenHash } from "../src/access/policy.ts";
import { namesFor } from "../src/contract/names.ts";
import { nodeInstanceKey, nodeUrlKey } from "../src/contract/ids.ts";
import { RegistryClient, RegistryError } from "../src/client/index.ts";
import { runCli, startCli } from "./harness/cli.ts";
import { heartbeat } from "./harness/nodes.ts";
import { startHttpTarget } from "./harness/targets.ts";
import { historyOf, runRegistryCommand, spawnRegistry } from "./harness/registry.ts";
import { connectionsNamed, startNatsServer, type NatsServer } from "./harness/natsServer.ts";
import { until } from "./harness/until.ts";
import { secure, secureConfigIn, USERS, type User } from "./harness/secure.ts";

const names = namesFor("registry");

describe("security: roles of secure/policy.json, enforced by nats-server and the registry", () => {
  let server: NatsServer;
  let registry: Awaited<ReturnType<typeof spawnRegistry>>;
  const as = {} as Record<User, NatsConnection>;
  before(async () => {
    server = await startNatsServer(["-c", await secureConfigIn(await mkdtemp(join(tmpdir(), "registry-secure-")))], { ownStore: true });
    registry = await spawnRegistry(server.url, {
      NATS_USER: "registry",
      NATS_PASSWORD: USERS.registry,
      REGISTRY_POLICY: secure("policy.json"),
      OB_NODE_ID: "registry-node",
      OB_SELF_URL: "http://127.0.0.1:11337",
      REGISTRY_DATA_DIR: server.dir,
    });
    for (const [user, pass] of Object.entries(USERS)) as[user as User] = await connect({ servers: server.url, user, pass });
    // The registry's own node joins with its first heartbeat, an event the "nothing written" counts must not meet.
    await until(async () => (await call("viewer", "node.get", { id: "registry-node" })).body.node?.status === "Online", "the registry's node to join");
  });
  after(async () => {
    for (const nc of Object.values(as)) await nc.close();
    await registry.stop();
    await server.stop();
  });

  const call = async (user: User, subject: string, body: object) => {
    const m = await as[user].request(`registry.${subject}`, JSON.stringify(body), { timeout: 5000 });
    const code = m.headers?.get("Nats-Service-Error-Code");
    return { code: code ? Number(code) : undefined, body: m.json<any>() };
  };
  const eventCount = async () => (await (await jetstreamManager(as.registry)).streams.info(names.eventsStream)).state.messages;
  const lastSeq = async () => (await (await jetstreamManager(as.registry)).streams.info(names.eventsStream)).state.last_seq;
  /** The events appended after `seq` on a caller's behalf (the registry's own decisions, such as a silent node going Offline, name no caller). */
  const callersWritesAfter = async (seq: number) => {
    const jsm = await jetstreamManager(as.registry);
    const written = [];
    for (let n = seq + 1; n <= (await lastSeq()); n++) {
      const m = await jsm.direct.getMessage(names.eventsStream, { seq: n });
      if (m?.json<{ metadata: { by?: unknown } }>().metadata.by !== undefined) written.push(m.subject);
    }
    return written;
  };
  /** The request is refused with 403 whose message matches, and writes nothing. */
  const refused = async (user: User, subject: string, body: object, message: RegExp) => {
    const before = await lastSeq();
    const reply = await call(user, subject, body);
    assert.equal(reply.code, 403, JSON.stringify(reply.body));
    assert.match(reply.body.error.message, message);
    assert.deepEqual(await callersWritesAfter(before), [], "nothing written");
  };

  test("security - the secure layout starts: the registry checked that nats-server enforces accounts", () => {
    assert.match(registry.output(), /"account":"REGISTRY".*"policy enforced by nats-server/);
  });

  test("security - a service's new instance is its own: the slug comes from its identity, and the event names it", async () => {
    const { code, body } = await call("user-svc", "instance.register", { url: "http://127.0.0.1:9001" });
    assert.equal(code, undefined, JSON.stringify(body));
    assert.equal(body.instance.slug, "user-svc");
    const [registered] = await historyOf(as.registry, names.eventsStream, names.eventSubject("instance", body.instance.id));
    assert.deepEqual(registered?.metadata.by, { account: "USER_SVC", user: "user-svc" });
  });

  test("security - the list of services shows a service its own slug and those it reads, an operator every one", async () => {
    await call("user-svc", "instance.register", { url: "http://127.0.0.1:9031" });
    await call("order-svc", "instance.register", { url: "http://127.0.0.1:9531" });
    await call("deployer", "instance.register", { url: "http://127.0.0.1:9931", slug: "billing-svc" });
    const slugsOf = async (user: User) => (await call(user, "service.list", {})).body.services?.map((s: { slug: string }) => s.slug);
    assert.deepEqual(await slugsOf("user-svc"), ["order-svc", "user-svc"]);
    assert.deepEqual(await slugsOf("order-svc"), ["order-svc"]);
    assert.ok((await slugsOf("viewer")).includes("billing-svc"));
  });

  test("security - a slug forged in the payload has no effect: 403 saying what it may register", async () => {
    await refused("user-svc", "instance.register", { url: "http://127.0.0.1:9002", slug: "order-svc" }, /registers instances of user-svc only, not of order-svc/);
  });

  test("security - a service changes only its own instances; another's are 403 for register, status, renew and remove", async () => {
    const theirs = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9503", ttlSeconds: 60 })).body.instance;
    const mine = (await call("user-svc", "instance.register", { url: "http://127.0.0.1:9004", ttlSeconds: 60 })).body.instance;
    await refused("user-svc", "instance.register", { url: theirs.url }, /may not register an instance at http:\/\/127\.0\.0\.1:9503\/?: its policy grants it 127\.0\.0\.1:9000-9299 only/);
    await refused("user-svc", "instance.register", { id: theirs.id, url: "http://127.0.0.1:9005" }, /may not edit instances of order-svc; it may change its own instances \(user-svc\)/);
    await refused("user-svc", "instance.status", { id: theirs.id, status: "Stopping" }, /may not edit instances of order-svc/);
    await refused("user-svc", "instance.renew", { id: theirs.id }, /may not edit instances of order-svc/);
    await refused("user-svc", "instance.remove", { id: theirs.id }, /may not delete instances of order-svc/);
    assert.equal((await call("user-svc", "instance.status", { id: mine.id, status: "Stopping" })).body.instance.status, "Stopping");
    assert.equal((await call("user-svc", "instance.renew", { id: mine.id })).code, undefined);
    assert.equal((await call("user-svc", "instance.remove", { id: mine.id })).code, undefined);
  });

  test("security - a service renews its own leases by publish; publishes naming another service's instance renew nothing", async () => {
    const mine = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9541", ttlSeconds: 1, graceSeconds: 60 })).body.instance;
    const theirs = (await call("user-svc", "instance.register", { url: "http://127.0.0.1:9041", ttlSeconds: 1, graceSeconds: 60 })).body.instance;
    const subjects = [`registry.lease.order-svc.${mine.id}`, `registry.lease.user-svc.${theirs.id}`, `registry.lease.order-svc.${theirs.id}`];
    const renewing = setInterval(() => subjects.forEach((s) => as["order-svc"].publish(s)), 100);
    try {
      // The first renewal of an instance only a lease tells about makes it Healthy: order-svc's own publishes reach the registry.
      await until(async () => (await call("order-svc", "instance.get", { id: mine.id })).body.instance.status === "Healthy", "order-svc's renewals to reach the registry");
      await until(async () => (await call("user-svc", "instance.get", { id: theirs.id })).body.instance.status === "Unhealthy", "user-svc's lease to lapse");
      assert.equal((await call("order-svc", "instance.get", { id: mine.id })).body.instance.status, "Healthy", "renewed all along");
      const recovered = (await historyOf(as.registry, names.eventsStream, names.eventSubject("instance", mine.id))).find((e) => e.type === "InstanceStatusChanged");
      assert.equal(recovered?.metadata.by?.account, "ORDER_SVC", "the recovery is attributed to the account nats-server names");
      const lapsed = (await historyOf(as.registry, names.eventsStream, names.eventSubject("instance", theirs.id))).map((e) => `${e.type}:${e.data.instance?.statusCause ?? ""}`);
      assert.deepEqual(lapsed, ["InstanceRegistered:registered", "InstanceStatusChanged:lease-expired"]);
    } finally {
      clearInterval(renewing);
    }
  });

  test("security - a service reads its own instances and the slugs granted to it, nothing more", async () => {
    await call("order-svc", "instance.register", { url: "http://127.0.0.1:9506" });
    await call("deployer", "instance.register", { url: "http://127.0.0.1:9507", slug: "billing-svc" });
    const slugs = (list: { slug: string }[]) => [...new Set(list.map((i) => i.slug))].sort();
    assert.deepEqual(slugs((await call("user-svc", "instance.list", {})).body.instances), ["order-svc", "user-svc"]);
    assert.deepEqual(slugs((await call("order-svc", "instance.list", {})).body.instances), ["order-svc"]);
    const other = (await call("viewer", "instance.list", { slug: "user-svc" })).body.instances[0];
    assert.equal((await call("order-svc", "instance.list", { slug: "user-svc" })).code, 403);
    assert.equal((await call("order-svc", "instance.get", { id: other.id })).code, 404, "another's instance reads as absent");
    assert.deepEqual(slugs((await call("viewer", "instance.list", {})).body.instances), ["billing-svc", "order-svc", "user-svc"]);
    assert.deepEqual(slugs((await call("proxy", "instance.list", {})).body.instances), ["billing-svc", "order-svc", "user-svc"]);
  });

  test("security - a service discovers the slugs it may read from its own account: current state, then live changes", async () => {
    const theirs = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9520", status: "Healthy" })).body.instance;
    const orders = await new RegistryClient(as["user-svc"]).discover("order-svc");
    try {
      assert.ok(orders.instances().some((i) => i.id === theirs.id), "the current state is listed");
      const fresh = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9521", status: "Healthy" })).body.instance;
      await until(() => orders.instances().some((i) => i.id === fresh.id), "a new instance to arrive live");
      await call("order-svc", "instance.remove", { id: fresh.id });
      await until(() => !orders.instances().some((i) => i.id === fresh.id), "its removal to arrive live");
      assert.ok(orders.pick());
    } finally {
      orders.stop();
    }
    await assert.rejects(new RegistryClient(as["order-svc"]).discover("user-svc"), (err: unknown) => err instanceof RegistryError && err.code === 403);
  });

  test("security - registry watch from a service's account follows a slug it may read, and is refused another", async () => {
    const env = { NATS_URL: server.url, NATS_USER: "user-svc", NATS_PASSWORD: USERS["user-svc"] };
    const watch = startCli(["watch", "instances", "--slug", "order-svc", "--json"], env);
    try {
      // The watch has no banner with --json: register new instances until one is printed.
      let port = 9530;
      await until(async () => {
        await call("order-svc", "instance.register", { url: `http://127.0.0.1:${port++}` });
        return watch.output().includes('"operation":"PUT"');
      }, "a registration to be printed");
      const line = JSON.parse(watch.output().trim().split("\n")[0]!);
      assert.equal(line.operation, "PUT");
      assert.equal(line.value.slug, "order-svc");
    } finally {
      assert.equal(await watch.interrupt(), 0);
    }
    const refused = await runCli(["watch", "instances", "--slug", "billing-svc"], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /may not watch the instances of billing-svc/);
  });

  test("security - history: a service reads its own instances' history, not the audit log; viewers read both", async () => {
    const mine = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9640" })).body.instance;
    const events = (await call("order-svc", "history", { entity: "instance", id: mine.id })).body.events;
    assert.deepEqual(events[0].by, { account: "ORDER_SVC", user: "order-svc" });
    const theirs = (await call("user-svc", "instance.register", { url: "http://127.0.0.1:9141" })).body.instance;
    assert.equal((await call("order-svc", "history", { entity: "instance", id: theirs.id })).code, 404);
    await refused("order-svc", "history", { since: new Date(0).toISOString() }, /lacks registry-svc:audit:view/);
    assert.ok((await call("viewer", "history", { since: new Date(0).toISOString() })).body.events.length > 0);
    // An operator moves an instance from billing-svc to order-svc: order-svc reads the move, not the slug it came from.
    const moved = (await call("deployer", "instance.register", { url: "http://127.0.0.1:9641", slug: "billing-svc" })).body.instance;
    await call("deployer", "instance.register", { url: "http://127.0.0.1:9641", slug: "order-svc" });
    const seen = (await call("order-svc", "history", { entity: "instance", id: moved.id })).body.events;
    assert.deepEqual(seen.map((e: { type: string }) => e.type), ["InstanceUpdated"], "only the events about its own slug");
    assert.deepEqual(seen[0].changes, [{ field: "slug", to: "order-svc" }], "the slug it came from is not shown");
    const operator = (await call("viewer", "history", { entity: "instance", id: moved.id })).body.events;
    assert.deepEqual(operator.at(-1).changes, [{ field: "slug", from: "billing-svc", to: "order-svc" }], "an operator sees the whole move");
  });

  test("security - a service registers only at the addresses its policy grants: another's is 403 naming its grant, and stays free for its owner", async () => {
    await refused("user-svc", "instance.register", { url: "http://10.20.0.99:8080" }, /may not register an instance at http:\/\/10\.20\.0\.99:8080\/?: its policy grants it 127\.0\.0\.1:9000-9299 only/);
    await refused("user-svc", "instance.register", { url: "http://127.0.0.1:9700" }, /its policy grants it 127\.0\.0\.1:9000-9299 only; register an address inside them, or ask an operator/);
    // Another spelling of an address, which a resolver would read as 127.0.0.1, is no address at all.
    const before = await eventCount();
    const spelled = await call("user-svc", "instance.register", { url: "tcp://2130706433:9010" });
    assert.equal(spelled.code, 400);
    assert.match(spelled.body.error.message, /writes the IPv4 address 127\.0\.0\.1 another way; write it as 127\.0\.0\.1/);
    assert.equal(await eventCount(), before);
    await refused("user-svc", "instance.register", { host: "user.internal", ip: "127.0.0.1", port: 9011 }, /may not register an instance at http:\/\/user\.internal:9011/);
    const owner = await call("order-svc", "instance.register", { url: "http://127.0.0.1:9700" });
    assert.equal(owner.code, undefined, JSON.stringify(owner.body));
    // Operators register anywhere, for any slug.
    assert.equal((await call("deployer", "instance.register", { url: "http://10.20.0.99:8080", slug: "order-svc", id: "order-1" })).code, undefined);
  });

  test("security - a service chooses ids under its own slug only, so none can take another's; the id derived from its url is its own", async () => {
    await refused("user-svc", "instance.register", { id: "order-svc_1", url: "http://127.0.0.1:9012" }, /may not choose the id "order-svc_1": the ids a service chooses start with user-svc_ \(such as user-svc_1\)/);
    await refused("user-svc", "instance.register", { id: "order-2", url: "http://127.0.0.1:9012" }, /start with user-svc_/);
    await refused("user-svc", "instance.register", { id: "inst_0123456789abcdef0123", url: "http://127.0.0.1:9012" }, /or leave id out and the registry derives one from the url/);
    const mine = await call("user-svc", "instance.register", { id: "user-svc_1", url: "http://127.0.0.1:9012" });
    assert.equal(mine.body.instance?.id, "user-svc_1", JSON.stringify(mine.body));
    assert.equal((await call("order-svc", "instance.register", { id: "order-svc_1", url: "http://127.0.0.1:9712" })).body.instance?.id, "order-svc_1");
    // A removed instance's id is free again only to whom the rule gives it: order-svc's stays order-svc's.
    assert.equal((await call("order-svc", "instance.remove", { id: "order-svc_1" })).code, undefined);
    await refused("user-svc", "instance.register", { id: "order-svc_1", url: "http://127.0.0.1:9013" }, /may not choose the id "order-svc_1"/);
    // A lapsed self-registration comes back with its derived id (the client library does that): still its own.
    const derived = (await call("user-svc", "instance.register", { url: "http://127.0.0.1:9014" })).body.instance.id;
    assert.equal((await call("user-svc", "instance.remove", { id: derived })).code, undefined);
    await refused("user-svc", "instance.register", { id: derived, url: "http://127.0.0.1:9015" }, /may not choose the id "inst_/);
    assert.equal((await call("user-svc", "instance.register", { id: derived, url: "http://127.0.0.1:9014" })).body.instance?.id, derived);
  });

  test("security - a service cannot point checks at the registry's network: a target outside its grants is 403, whatever the check", async () => {
    const natsPort = new URL(server.url).port;
    for (const url of [`tcp://127.0.0.1:${natsPort}`, `http://127.0.0.1:${natsPort}`, "http://127.0.0.1:11337"]) {
      await refused("user-svc", "instance.register", { url, check: { type: "tcp", intervalMs: 100 } }, /may not register an instance at/);
    }
  });

  test("security - a service reads its checks' outcome, not what the probe saw; operators see it all", async () => {
    const check = { type: "http", intervalMs: 100, failuresBeforeChange: 1 };
    // Nothing answers on this granted port: the registry's check finds it unreachable.
    const { instance } = (await call("user-svc", "instance.register", { url: "http://127.0.0.1:9299", status: "Healthy", ttlSeconds: 60, check })).body;
    const seen = await until(async () => {
      const i = (await call("viewer", "instance.get", { id: instance.id })).body.instance;
      return i?.statusCause?.startsWith("check-") && i.details ? i : undefined;
    }, "the registry's check to record its outcome");
    const mine = (await call("user-svc", "instance.get", { id: instance.id })).body.instance;
    assert.equal(mine.status, seen.status);
    assert.equal(mine.statusCause, seen.statusCause);
    assert.equal(mine.details, undefined, "what the probe saw is not shown to the service");
    const listed = (await call("user-svc", "instance.list", { id: instance.id })).body.instances[0];
    assert.equal(listed.details, undefined);
    const renewed = (await call("user-svc", "instance.renew", { id: instance.id })).body.instance;
    assert.equal(renewed.details, undefined);
    const checkEvent = (events: { cause?: string; reason?: string }[]) => events.find((e) => e.cause?.startsWith("check-"));
    const theirs = checkEvent((await call("user-svc", "history", { entity: "instance", id: instance.id })).body.events);
    assert.match(theirs!.reason!, /^a check's outcome was (failed|unreachable|passed|slow) \(what the probe saw is shown to operators only\)$/);
    const operators = checkEvent((await call("viewer", "history", { entity: "instance", id: instance.id })).body.events);
    assert.ok(operators!.reason!.includes(seen.details), "operators read the probe's answer in the history");
  });

  test("security - history shows a service only the events of the slugs it may read, each by the slug it had when written", async () => {
    // user-svc's instance, removed; an operator registers its id again for order-svc.
    const { instance } = (await call("user-svc", "instance.register", { id: "user-svc_h", url: "http://127.0.0.1:9021" })).body;
    assert.equal((await call("user-svc", "instance.status", { id: instance.id, status: "Starting", details: "user-svc's own words" })).code, undefined);
    assert.equal((await call("user-svc", "instance.remove", { id: instance.id })).code, undefined);
    assert.equal((await call("deployer", "instance.register", { id: "user-svc_h", url: "http://127.0.0.1:9721", slug: "order-svc" })).code, undefined);
    const orders = (await call("order-svc", "history", { entity: "instance", id: "user-svc_h" })).body.events;
    assert.deepEqual(
      orders.map((e: { type: string; by?: { account: string } }) => [e.type, e.by?.account]),
      [["InstanceRegistered", "DEPLOYER"]],
      "order-svc sees none of user-svc's events",
    );
    // user-svc reads its own past events on the id (order-svc's are readable to it too, by its policy).
    const users = (await call("user-svc", "history", { entity: "instance", id: "user-svc_h" })).body.events;
    assert.deepEqual(users.map((e: { by?: { account: string } }) => e.by?.account), ["USER_SVC", "USER_SVC", "USER_SVC", "DEPLOYER"]);
    // A removed instance's history stays readable to its service; to another service it is not there.
    const gone = (await call("order-svc", "instance.register", { id: "order-svc_gone", url: "http://127.0.0.1:9722" })).body.instance;
    await call("order-svc", "instance.remove", { id: gone.id });
    assert.equal((await call("order-svc", "history", { entity: "instance", id: gone.id })).body.events.length, 2);
    // ...also once an operator gave the id to a service it may not read: it reads its own past on it, not the new owner's.
    assert.equal((await call("deployer", "instance.register", { id: gone.id, url: "http://127.0.0.1:9024", slug: "user-svc" })).code, undefined);
    const past = (await call("order-svc", "history", { entity: "instance", id: gone.id })).body;
    assert.deepEqual(past.events?.map((e: { type: string; by?: { account: string } }) => [e.type, e.by?.account]), [["InstanceRegistered", "ORDER_SVC"], ["InstanceRemoved", "ORDER_SVC"]], JSON.stringify(past));
    assert.equal((await call("order-svc", "instance.get", { id: gone.id })).code, 404, "its present is the new owner's");
    const { instance: hidden } = (await call("deployer", "instance.register", { url: "http://127.0.0.1:9723", slug: "billing-svc" })).body;
    await call("deployer", "instance.remove", { id: hidden.id });
    assert.equal((await call("order-svc", "history", { entity: "instance", id: hidden.id })).code, 404);
  });

  test("security - viewers and proxies read but change nothing; deployers deploy; only admins remove nodes and switch protection", async () => {
    await refused("viewer", "instance.register", { url: "http://127.0.0.1:9508", slug: "x-svc" }, /lacks registry-svc:instance:edit; a viewer may instance:view/);
    await refused("proxy", "definition.save", { definition: { id: "p-def", image: { name: "nginx" } } }, /lacks registry-svc:definition:edit/);
    await refused("user-svc", "definition.save", { definition: { id: "s-def", image: { name: "nginx" } } }, /lacks registry-svc:definition:edit/);
    assert.equal((await call("deployer", "definition.save", { definition: { id: "d-def", image: { name: "nginx" } } })).code, undefined);
    assert.equal((await call("viewer", "definition.get", { id: "d-def" })).code, undefined);
    await refused("deployer", "node.remove", { id: "registry-node" }, /lacks registry-svc:node:delete/);
    await refused("deployer", "health.protection", { enabled: false }, /lacks registry-svc:health:edit/);
    await refused("user-svc", "instance.checked", { id: "x", outcome: "passed", detail: "ok", checkedBy: "me" }, /lacks registry-svc:check:report/);
    assert.equal((await call("admin", "health.protection", { enabled: true })).code, undefined);
    assert.equal((await call("user-svc", "node.list", {})).code, undefined);
  });

  test("security - an agent reports checks only on the instances naming its node, as itself: the payload's checkedBy is not the reporter", async () => {
    const nodeUrl = "http://127.0.0.1:11401"; // secure/policy.json binds node-1 to it
    const beat = () => as["agent-node-1"].publish(names.heartbeatSubject("node-1"), JSON.stringify({ ...heartbeat("node-1"), url: nodeUrl }));
    beat();
    const beating = setInterval(beat, 500); // node-1 stays Online however long the test takes
    try {
      await until(async () => (await call("viewer", "node.get", { id: "node-1" })).body.node?.url === nodeUrl, "node-1 to join with its URL");
      const check = { type: "http", intervalMs: 60_000 };
      const theirs = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9660", check, status: "Healthy" })).body.instance;
      const report = { outcome: "unreachable", detail: "no answer", checkedBy: "registry t3b1" };
      await refused("agent-node-1", "instance.checked", { id: theirs.id, ...report }, /agent of node node-1\) reports checks on the instances of its node only \(nodeUrl http:\/\/127\.0\.0\.1:11401\); instance \S+ names no node/);
      assert.equal((await call("viewer", "instance.get", { id: theirs.id })).body.instance.status, "Healthy");

      const onNode1 = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9661", nodeUrl, check, status: "Healthy" })).body.instance;
      const reply = await call("agent-node-1", "instance.checked", { id: onNode1.id, ...report });
      assert.equal(reply.body.instance?.status, "Unreachable", JSON.stringify(reply.body));
      const changed = (await historyOf(as.registry, names.eventsStream, names.eventSubject("instance", onNode1.id))).find((e) => e.type === "InstanceStatusChanged");
      assert.match(changed?.data.reason, /\(checked by node node-1 \(agent-node-1\)\)$/);

      // An admin may report on any instance; the reporter is still its identity, not the payload's.
      await call("admin", "instance.checked", { id: theirs.id, ...report });
      const byAdmin = (await historyOf(as.registry, names.eventsStream, names.eventSubject("instance", theirs.id))).find((e) => e.type === "InstanceStatusChanged");
      assert.match(byAdmin?.data.reason, /\(checked by admin of ADMIN\)$/);
    } finally {
      clearInterval(beating);
    }
  });

  test("security - a service's status report is caused reported: by operator is refused it, and left to deployers and admins", async () => {
    const mine = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9670" })).body.instance;
    await refused("order-svc", "instance.status", { id: mine.id, status: "Stopping", by: "operator" }, /reports its instances' own status \(cause reported\); by: "operator" is for admin and deployer accounts: leave by out/);
    assert.equal((await call("order-svc", "instance.status", { id: mine.id, status: "Stopping" })).body.instance.statusCause, "reported");
    assert.equal((await call("deployer", "instance.status", { id: mine.id, status: "Healthy", by: "operator" })).body.instance.statusCause, "operator");
  });

  test("security - an agent cannot take over another node's URL: its heartbeats keep its own, and the refusal is logged once", async () => {
    const self = await until(async () => (await call("viewer", "node.get", { id: "registry-node" })).body.node, "the registry's node to join");
    const own = "http://127.0.0.1:11401";
    const beat = (url = self.url, cpuPercent = 10) => as["agent-node-1"].publish(names.heartbeatSubject("node-1"), JSON.stringify({ ...heartbeat("node-1", { cpuPercent }), url }));
    beat(own);
    await until(async () => (await call("viewer", "node.get", { id: "node-1" })).body.node?.url === own, "node-1 to join with its own URL");
    beat();
    const refusal = (line: string) => line.includes("heartbeat refused: the policy binds node node-1 to") && line.includes(self.url);
    await until(() => registry.output().split("\n").some(refusal), "the takeover to be refused");
    // Usage that moves is stored at once: it shows the later heartbeats were taken.
    beat(self.url, 90);
    await until(async () => (await call("viewer", "node.get", { id: "node-1" })).body.node.usage?.cpu.percent === 90, "the later heartbeats' telemetry to be taken");
    const node1 = (await call("viewer", "node.get", { id: "node-1" })).body.node;
    assert.equal(node1.url, own);
    assert.equal((await call("viewer", "node.get", { url: self.url })).body.node.id, "registry-node");
    assert.equal(registry.output().split("\n").filter(refusal).length, 1, "logged once");
  });

  test("security - a node's URL is the one the policy binds to its agent: another agent cannot take it, before the node joins or after it is removed", async () => {
    const [node1Url, node2Url] = ["http://127.0.0.1:11401", "http://127.0.0.1:11402"]; // as secure/policy.json binds them
    let cpuPercent = 10;
    const claim = () => as["agent-node-1"].publish(names.heartbeatSubject("node-1"), JSON.stringify({ ...heartbeat("node-1", { cpuPercent }), url: node2Url }));
    /** node-1's heartbeats sent from now on were taken (their usage, moved by 20 points, is stored), and its URL is still its own. */
    const claimsTaken = async () => {
      cpuPercent += 20;
      claim();
      await until(async () => (await call("viewer", "node.get", { id: "node-1" })).body.node?.usage?.cpu.percent === cpuPercent, "node-1's later heartbeats to be taken");
      assert.equal((await call("viewer", "node.get", { id: "node-1" })).body.node.url, node1Url);
    };
    as["agent-node-1"].publish(names.heartbeatSubject("node-1"), JSON.stringify({ ...heartbeat("node-1"), url: node1Url }));
    await until(async () => (await call("viewer", "node.get", { id: "node-1" })).body.node?.url === node1Url, "node-1 to join with its URL");

    await claimsTaken(); // before node-2 ever joined
    assert.equal((await call("viewer", "node.get", { url: node2Url })).code, 404);
    const beat2 = () => as["agent-node-2"].publish(names.heartbeatSubject("node-2"), JSON.stringify({ ...heartbeat("node-2"), url: node2Url }));
    beat2();
    await until(async () => (await call("viewer", "node.get", { id: "node-2" })).body.node?.url === node2Url, "node-2 to join with its URL");
    assert.equal((await call("admin", "node.remove", { id: "node-2" })).code, undefined);
    await claimsTaken(); // after node-2 was removed
    assert.equal((await call("viewer", "node.get", { url: node2Url })).code, 404);
    const refusals = registry.output().split("\n").filter((line) => line.includes("heartbeat refused: the policy binds node node-1 to") && line.includes(node2Url));
    assert.equal(refusals.length, 1, "logged once");
    beat2();
    await until(async () => (await call("viewer", "node.get", { id: "node-2" })).body.node?.url === node2Url, "node-2 to join again with its URL");

    // Checks on node-2's instances are node-2's agent's to report. Both nodes keep beating meanwhile:
    // one gone Offline would be an event (and node-2's instance Unreachable) that the refusal below would count.
    const beat1 = () => as["agent-node-1"].publish(names.heartbeatSubject("node-1"), JSON.stringify({ ...heartbeat("node-1", { cpuPercent }), url: node1Url }));
    const beating = setInterval(() => (beat1(), beat2()), 1000);
    try {
      const report = { outcome: "unreachable", detail: "no answer", checkedBy: "node node-2" };
      const onNode2 = (await call("order-svc", "instance.register", { url: "http://127.0.0.1:9662", nodeUrl: node2Url, status: "Healthy" })).body.instance;
      await refused("agent-node-1", "instance.checked", { id: onNode2.id, ...report }, /reports checks on the instances of its node only \(nodeUrl http:\/\/127\.0\.0\.1:11401\)/);
      const taken = await call("agent-node-2", "instance.checked", { id: onNode2.id, ...report });
      assert.equal(taken.code, undefined, JSON.stringify(taken.body));
    } finally {
      clearInterval(beating);
    }
  });

  test("security - registry auth add-token --user binds an agent's token to that agent user, and so to its node", async () => {
    const added = await runCli(["auth", "add-token", "--account", "AGENTS", "--name", "rack-1", "--user", "agent-node-1", "--json"], { NATS_URL: server.url });
    assert.equal(added.code, 0, added.stderr);
    const { token, policy } = JSON.parse(added.stdout);
    assert.deepEqual(Object.values(policy.httpTokens), [{ account: "AGENTS", name: "rack-1", user: "agent-node-1" }]);
    assert.equal(Object.keys(policy.httpTokens)[0], tokenHash(token));
  });

  test("security - no caller can write the event stream or the buckets, or purge: they are not in its account", async () => {
    const before = await eventCount();
    for (const user of ["admin", "user-svc"] as const) {
      await assert.rejects(jetstream(as[user]).publish(names.eventSubject("instance", "inst_forged"), "{}", { timeout: 1000 }));
      await assert.rejects(new Kvm(as[user]).open(names.buckets.instance).then((kv) => kv.put("user-svc.inst_forged", "{}")));
      await assert.rejects(jetstreamManager(as[user]).then((jsm) => jsm.streams.purge(names.eventsStream)));
    }
    assert.equal(await eventCount(), before);
  });

  test("security - a node agent publishes its own node's heartbeats only", async () => {
    const agent = as["agent-node-1"];
    const refusedByServer = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of agent.status()) if (s.type === "error") resolve(String((s as { error?: Error }).error?.message ?? s.type));
      })();
    });
    agent.publish(names.heartbeatSubject("node-1"), JSON.stringify({ ...heartbeat("node-1"), url: "http://127.0.0.1:11401" }));
    agent.publish(names.heartbeatSubject("node-4"), JSON.stringify(heartbeat("node-4")));
    await agent.flush();
    assert.match(await refusedByServer, /Permissions Violation for Publish to "registry\.heartbeat\.node-4"/);
    await until(async () => (await call("viewer", "node.get", { id: "node-1" })).body.node?.status === "Online", "node-1 to join");
    // A service publishing a heartbeat publishes into its own account: it never reaches the registry.
    as["user-svc"].publish(names.heartbeatSubject("node-3"), JSON.stringify(heartbeat("node-3")));
    await as["user-svc"].flush();
    assert.equal((await call("viewer", "node.get", { id: "node-4" })).code, 404);
    assert.equal((await call("viewer", "node.get", { id: "node-3" })).code, 404);
  });

  test("security - a node agent may follow its own node's part of the per-node index only, not the instances bucket nor another node's part", async () => {
    const agent = as["agent-node-1"];
    const refusals: string[] = [];
    void (async () => {
      for await (const s of agent.status()) if (s.type === "error") refusals.push(String((s as { error?: Error }).error?.message));
    })();
    const reached: string[] = [];
    const own = agent.subscribe(`$KV.${names.buckets.nodeInstance}.${nodeUrlKey("http://127.0.0.1:11401")}.>`, { callback: (_err, m) => void reached.push(m.subject) });
    agent.subscribe(`$KV.${names.buckets.instance}.>`);
    agent.subscribe(`$KV.${names.buckets.nodeInstance}.${nodeUrlKey("http://127.0.0.1:11402")}.>`);
    await agent.flush();
    await until(() => refusals.length >= 2, "the server to refuse both subscriptions");
    assert.ok(refusals.some((r) => r.includes(`Permissions Violation for Subscription to "$KV.${names.buckets.instance}.>"`)), refusals.join("; "));
    assert.ok(refusals.some((r) => r.includes(nodeUrlKey("http://127.0.0.1:11402"))), refusals.join("; "));
    const { instance } = (await call("deployer", "instance.register", { url: "http://127.0.0.1:9650", slug: "checked-svc", nodeUrl: "http://127.0.0.1:11401" })).body;
    await until(() => reached.length > 0, "the change of an instance on its node to reach it");
    assert.deepEqual(reached, [`$KV.${names.buckets.nodeInstance}.${nodeInstanceKey("http://127.0.0.1:11401", instance.id)}`]);
    own.unsubscribe();
  });

  test("security - `registry agent` runs in the agents' account: its node joins, and it checks the instances naming its node", async () => {
    const target = await startHttpTarget();
    let agent: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
    try {
      agent = await spawnRegistry(
        server.url,
        { NATS_USER: "agent-node-2", NATS_PASSWORD: "agent-2-example", OB_NODE_ID: "node-2", OB_SELF_URL: "http://127.0.0.1:11402", REGISTRY_DATA_DIR: server.dir },
        "agent",
      );
      await until(async () => (await call("viewer", "node.get", { id: "node-2" })).body.node?.status === "Online", "node-2 to join");
      const [conn] = await until(async () => {
        const found = await connectionsNamed(server, "registry agent");
        return found.length === 1 ? found : undefined;
      }, "the agent's connection in nats-server's monitoring");
      const sentTo = async () => (await connectionsNamed(server, "registry agent")).find((c) => c.cid === conn!.cid)!.out_msgs;
      const before = await sentTo();
      for (let n = 0; n < 30; n++) await call("deployer", "instance.register", { url: `http://127.0.0.1:${9600 + n}`, slug: "checked-svc", nodeUrl: "http://127.0.0.1:11401" });
      const check = { type: "http", intervalMs: 100, failuresBeforeChange: 1 };
      const { instance } = (await call("deployer", "instance.register", { url: target.url, slug: "checked-svc", nodeUrl: "http://127.0.0.1:11402", check })).body;
      const healthy = await until(async () => {
        const i = (await call("viewer", "instance.get", { id: instance.id })).body.instance;
        return i?.status === "Healthy" ? i : undefined;
      }, "node-2's agent to check the instance");
      assert.equal(healthy.statusCause, "check-passed");
      const sent = (await sentTo()) - before;
      assert.ok(sent < 15, `nats-server sent node-2's agent ${sent} messages while 30 instances on node-1 were registered`);
      const changed = (await historyOf(as.registry, names.eventsStream, names.eventSubject("instance", instance.id))).find((e) => e.type === "InstanceStatusChanged");
      assert.match(changed?.data.reason, /checked by node node-2/);
      assert.deepEqual(changed?.metadata.by, { account: "AGENTS", user: "agent-node-2", name: "registry agent" });
    } finally {
      await agent?.stop();
      await target.stop();
    }
  });
});

describe("security: adding a service, as the README shows", () => {
  test("security - registry auth add-service makes a key the server accepts after a reload; the new service registers as itself", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-add-service-"));
    const conf = join(dir, "nats.conf");
    const policyFile = join(dir, "policy.json");
    await secureConfigIn(dir);
    await copyFile(secure("policy.json"), policyFile);
    const server = await startNatsServer(["-c", conf], { ownStore: true });
    const registry = await spawnRegistry(server.url, {
      NATS_USER: "registry",
      NATS_PASSWORD: USERS.registry,
      REGISTRY_POLICY: policyFile,
      OB_NODE_ID: "registry-node",
      OB_SELF_URL: "http://127.0.0.1:11337",
      REGISTRY_DATA_DIR: server.dir,
    });
    try {
      const added = await runCli(["auth", "add-service", "billing-svc", "--address", "127.0.0.1:9300-9399", "--dir", join(dir, "secrets"), "--json"], { NATS_URL: server.url });
      assert.equal(added.code, 0, added.stderr);
      const { serverConfig, policy, seedFile } = JSON.parse(added.stdout);
      assert.equal((await stat(seedFile)).mode & 0o777, 0o600, "the seed is readable by its owner only");
      const env = { NATS_URL: server.url, NATS_NKEY: seedFile };
      assert.notEqual((await runCli(["i", "ls"], env)).code, 0, "not yet known to the server");

      const text = await readFile(conf, "utf8");
      await writeFile(conf, `${text.trimEnd().replace(/}$/, "")}\n${serverConfig}\n}\n`);
      const current = JSON.parse(await readFile(policyFile, "utf8"));
      await writeFile(policyFile, JSON.stringify({ accounts: { ...current.accounts, ...JSON.parse(policy) } }));
      // nats-server 2.9.10 reloads users on SIGHUP but wires a new account's imports only at a start (tried).
      await server.halt();
      await server.restart();
      process.kill(registry.child.pid!, "SIGHUP");
      await until(() => registry.output().includes('"policy reloaded"'), "the registry to reload its policy");

      const registered = await until(async () => {
        const run = await runCli(["i", "register", "--url", "http://127.0.0.1:9301", "--json"], env);
        if (run.code !== 0) throw new Error(run.stderr);
        return JSON.parse(run.stdout);
      }, "the new service to register once the server has restarted", 20_000);
      assert.equal(registered.instance.slug, "billing-svc");
      const refused = await runCli(["i", "register", "--url", "http://127.0.0.1:9302", "--slug", "user-svc"], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /registers instances of billing-svc only/);
    } finally {
      await registry.stop();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("security: a policy the NATS server cannot enforce", () => {
  /** `registry serve` with the policy, as `make run` starts it: it must exit, saying why and what to do. */
  const serveWithPolicy = async (server: NatsServer, env: Record<string, string>) =>
    runRegistryCommand(server.url, "serve", { REGISTRY_POLICY: secure("policy.json"), OB_NODE_ID: "refused-node", REGISTRY_DATA_DIR: server.dir, ...env });

  test("security - REGISTRY_POLICY on a server without authentication: serve refuses to start, exit 2, saying why and what to do", async () => {
    const server = await startNatsServer();
    try {
      // The newcomer: the registry's credentials, sent to an open server that ignores them.
      const { code, output } = await serveWithPolicy(server, { NATS_USER: "registry", NATS_PASSWORD: USERS.registry });
      assert.equal(code, 2, output);
      assert.match(output, /REGISTRY_POLICY is set but cannot be enforced: the NATS server requires no authentication/);
      assert.match(output, /nats-server -c secure\/nats\.conf.*or unset REGISTRY_POLICY/);
      assert.doesNotMatch(output, /"registry started"/);
      const nc = await connect({ servers: server.url });
      try {
        assert.deepEqual(await (await jetstreamManager(nc)).streams.names().next(), [], "nothing was provisioned");
      } finally {
        await nc.close();
      }
    } finally {
      await server.stop();
    }
  });

  test("security - a registry whose server comes back without authentication (another configuration on its port) stops, exit 2", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-secure-then-open-"));
    const secured = await startNatsServer(["-c", await secureConfigIn(dir)], { ownStore: true });
    let open: NatsServer | undefined;
    const registry = await spawnRegistry(secured.url, {
      NATS_USER: "registry",
      NATS_PASSWORD: USERS.registry,
      REGISTRY_POLICY: secure("policy.json"),
      OB_NODE_ID: "registry-node",
      OB_SELF_URL: "http://127.0.0.1:11337",
      REGISTRY_DATA_DIR: secured.dir,
    });
    try {
      await secured.halt();
      open = await startNatsServer(["-p", String(secured.port)]);
      await until(() => registry.child.exitCode !== null, "the registry to stop once reconnected to the open server", 30_000);
      assert.equal(registry.child.exitCode, 2, registry.output());
      assert.match(registry.output(), /cannot be enforced: the NATS server requires no authentication.*; stopping/);
    } finally {
      await registry.stop();
      await open?.stop();
      await secured.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("security - REGISTRY_POLICY with the registry's user in the global account ($G): serve refuses to start", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-global-account-"));
    const conf = join(dir, "nats.conf");
    await writeFile(conf, `authorization { users: [ { user: registry, password: registry-example }, { user: user-svc, password: user-svc-example } ] }\n`);
    const server = await startNatsServer(["-c", conf]);
    try {
      const { code, output } = await serveWithPolicy(server, { NATS_USER: "registry", NATS_PASSWORD: USERS.registry });
      assert.equal(code, 2, output);
      assert.match(output, /cannot be enforced: the registry's NATS user is in the server's global account \(\$G\)/);
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
