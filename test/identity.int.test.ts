/**
 * Who made each change: the registry in its own account, a service in another importing its
 * subjects with `share: true`, so nats-server tells the registry the caller (Nats-Request-Info),
 * and every event says who made it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { namesFor } from "../src/contract/names.ts";
import { historyOf, spawnRegistry } from "./harness/registry.ts";
import { startNatsServer, type NatsServer } from "./harness/natsServer.ts";

const names = namesFor("registry");

const CONFIG = `
accounts {
  REGISTRY: {
    jetstream: enabled
    users: [ { user: registry, password: registry-secret } ]
    exports: [ { service: "registry.instance.>", response_type: singleton } ]
  }
  SVC_A: {
    users: [ { user: svc-a, password: a-secret } ]
    imports: [ { service: { account: REGISTRY, subject: "registry.instance.>" }, share: true } ]
  }
}
`;

describe("identity: each event names its caller", () => {
  let dir: string;
  let server: NatsServer;
  let registry: Awaited<ReturnType<typeof spawnRegistry>>;
  let service: NatsConnection;
  let inside: NatsConnection;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "registry-identity-"));
    await writeFile(join(dir, "accounts.conf"), CONFIG);
    server = await startNatsServer(["-c", join(dir, "accounts.conf")]);
    registry = await spawnRegistry(server.url, { NATS_USER: "registry", NATS_PASSWORD: "registry-secret", OB_NODE_ID: "id-node", OB_SELF_URL: "http://127.0.0.1:11337", REGISTRY_DATA_DIR: dir });
    service = await connect({ servers: server.url, user: "svc-a", pass: "a-secret", name: "svc-a-process" });
    inside = await connect({ servers: server.url, user: "registry", pass: "registry-secret" });
  });
  after(async () => {
    await service.close();
    await inside.close();
    await registry.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const request = async (nc: NatsConnection, subject: string, body: object, requestInfo?: string) => {
    const h = headers();
    if (requestInfo !== undefined) h.set("Nats-Request-Info", requestInfo);
    const m = await nc.request(`registry.${subject}`, JSON.stringify(body), { timeout: 5000, headers: h });
    return { code: m.headers?.get("Nats-Service-Error-Code"), body: m.json<any>() };
  };

  test("identity - a registration from another account is recorded with that account and user", async () => {
    const { body } = await request(service, "instance.register", { url: "http://127.0.0.1:7701", slug: "svc-a" });
    const [registered] = await historyOf(inside, names.eventsStream, names.eventSubject("instance", body.instance.id));
    assert.deepEqual(registered?.metadata.by, { account: "SVC_A", user: "svc-a", name: "svc-a-process" });
  });

  test("identity - a caller in another account cannot pass itself off as someone else", async () => {
    const forged = JSON.stringify({ acc: "REGISTRY", user: "admin" });
    const { body } = await request(service, "instance.register", { url: "http://127.0.0.1:7702", slug: "svc-a" }, forged);
    const [registered] = await historyOf(inside, names.eventsStream, names.eventSubject("instance", body.instance.id));
    assert.equal(registered?.metadata.by.account, "SVC_A");
    assert.equal(registered?.metadata.by.user, "svc-a");
  });

  test("identity - requests from inside the registry's account carry no caller; a junk header there is refused", async () => {
    const { body } = await request(inside, "instance.register", { url: "http://127.0.0.1:7703", slug: "svc-a" });
    const [registered] = await historyOf(inside, names.eventsStream, names.eventSubject("instance", body.instance.id));
    assert.equal(registered?.metadata.by, undefined);
    const junk = await request(inside, "instance.register", { url: "http://127.0.0.1:7704" }, "not json");
    assert.equal(junk.code, "400");
    assert.match(junk.body.error.message, /Nats-Request-Info header is not the one nats-server sets/);
  });
});
