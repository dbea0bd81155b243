import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RegistryError } from "../src/contract/errors.ts";
import type { Instance } from "../src/contract/schemas.ts";
import { resolveAddress } from "../src/domain/address.ts";
import { definitionDecider } from "../src/domain/definition.ts";
import { instanceDecider, type RegisterInstance } from "../src/domain/instance.ts";
import { nodeDecider } from "../src/domain/node.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const T1 = "2026-01-01T00:01:00.000Z";
const code = (code: number) => (err: unknown) => err instanceof RegistryError && err.code === code;

const registerCmd = (request: RegisterInstance["data"]["request"], now = T0, id = "inst_1"): RegisterInstance => ({
  type: "RegisterInstance",
  data: { id, address: resolveAddress(request), request },
  metadata: { now },
});

describe("instance decider", () => {
  test("given no instance, when registered, then InstanceRegistered with defaults and the command's time", () => {
    const events = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "user-svc" }), null);
    assert.deepEqual(events, [
      {
        type: "InstanceRegistered",
        data: {
          instance: { id: "inst_1", url: "http://localhost:8080", scheme: "http", host: "localhost", port: 8080, slug: "user-svc", tags: [], status: "Unknown", lastHeartbeat: T0, createdAt: T0, updatedAt: T0 },
        },
      },
    ]);
  });

  test("given an instance, when registered again unchanged, then no event", () => {
    const [registered] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", tags: ["a"] }), null);
    const state = instanceDecider.evolve(null, registered!);
    assert.deepEqual(instanceDecider.decide(registerCmd({ url: "http://localhost:8080", tags: ["a"] }, T1), state), []);
  });

  test("given an instance, when its slug changes, then InstanceUpdated says what changed and where it moved from", () => {
    const state = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "a" }), null)[0]!);
    const [event] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "b", status: "Healthy" }, T1), state);
    assert.equal(event?.type, "InstanceUpdated");
    if (event?.type !== "InstanceUpdated") return;
    assert.deepEqual(event.data.changed, ["slug", "status"]);
    assert.deepEqual(event.data.movedFrom, { slug: "a" });
    assert.equal(event.data.instance.createdAt, T0);
    assert.equal(event.data.instance.updatedAt, T1);
  });

  test("given an instance without slug, when it gets one, then movedFrom has no slug", () => {
    const state = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080" }), null)[0]!);
    const [event] = instanceDecider.decide(registerCmd({ url: "http://localhost:8080", slug: "b" }, T1), state);
    assert.deepEqual(event?.type === "InstanceUpdated" && event.data.movedFrom, {});
  });

  test("given a new url for an instance, then the old address parts are dropped", () => {
    const state = instanceDecider.evolve(null, instanceDecider.decide(registerCmd({ url: "http://localhost:8080/v1" }), null)[0]!) as Instance;
    const [event] = instanceDecider.decide(registerCmd({ url: "http://127.0.0.1" }, T1), state);
    const instance = event?.type === "InstanceUpdated" ? event.data.instance : undefined;
    assert.equal(instance?.host, undefined);
    assert.equal(instance?.path, undefined);
    assert.equal(instance?.port, undefined);
    assert.equal(instance?.ip, "127.0.0.1");
  });

  test("given no instance, when removed, then 404", () => {
    assert.throws(() => instanceDecider.decide({ type: "RemoveInstance", data: { id: "x" }, metadata: { now: T0 } }, null), code(404));
  });
});

describe("address", () => {
  test("a url with a trailing slash keeps / as its path", () => {
    assert.equal(resolveAddress({ url: "http://localhost:8080/" }).path, "/");
  });
  test("parts without a leading slash on the path get one", () => {
    assert.equal(resolveAddress({ host: "localhost", port: 80, path: "api" }).url, "http://localhost:80/api");
  });
  test("matching parts beside a url are accepted; mismatching ones name each field", () => {
    assert.equal(resolveAddress({ url: "http://localhost:8080", port: 8080, scheme: "http" }).port, 8080);
    assert.throws(
      () => resolveAddress({ url: "http://localhost:8080", scheme: "https", host: "127.0.0.1" }),
      (err: unknown) => err instanceof RegistryError && err.details?.map((d) => d.path).join() === "/scheme,/host",
    );
  });
});

describe("definition decider", () => {
  const save = (definition: object) => ({ type: "SaveDefinition" as const, data: { definition: definition as never }, metadata: { now: T0 } });
  test("given nothing, when saved, then DefinitionSaved with the definition unchanged", () => {
    const definition = { id: "d", image: { name: "nginx", internalPorts: [80] } };
    assert.deepEqual(definitionDecider.decide(save(definition), null), [{ type: "DefinitionSaved", data: { definition } }]);
  });
  test("given the same definition, when saved again, then no event", () => {
    const definition = { id: "d", image: { name: "nginx" } };
    assert.deepEqual(definitionDecider.decide(save(definition), definition), []);
  });
  test("a definition needs exactly one of image and repository", () => {
    assert.throws(() => definitionDecider.decide(save({ id: "d" }), null), code(400));
    assert.throws(() => definitionDecider.decide(save({ id: "d", image: { name: "a" }, repository: { url: "u" } }), null), code(400));
  });
});

describe("node decider", () => {
  const node = { id: "n1", url: "http://127.0.0.1:11337", status: "Online" as const };
  test("given no node, when it joins, then NodeJoined with the reason; joining again writes nothing", () => {
    const [joined] = nodeDecider.decide({ type: "JoinNode", data: { node, reason: "first heartbeat" }, metadata: { now: T0 } }, null);
    assert.deepEqual(joined, { type: "NodeJoined", data: { node, reason: "first heartbeat" } });
    assert.deepEqual(nodeDecider.decide({ type: "JoinNode", data: { node, reason: "again" }, metadata: { now: T0 } }, node), []);
  });
  test("given a node, when removed, then NodeRemoved names its url", () => {
    const [removed] = nodeDecider.decide({ type: "RemoveNode", data: { id: "n1", reason: "operator" }, metadata: { now: T0 } }, node);
    assert.deepEqual(removed, { type: "NodeRemoved", data: { id: "n1", url: node.url, reason: "operator" } });
  });
});
