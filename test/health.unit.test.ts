import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../src/contract/schemas.ts";
import { expiryProtectionDecider } from "../src/domain/expiryProtection.ts";
import { decideHealth, type InstanceHealthCommand } from "../src/domain/instanceHealth.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const base: Instance = { id: "i1", url: "http://127.0.0.1:1", tags: [], status: "Healthy", statusCause: "check-passed", createdAt: T0, updatedAt: T0, lastHeartbeat: T0 };
const cmd = <C extends InstanceHealthCommand>(type: C["type"], data: object, now = T0) => ({ type, data: { id: "i1", ...data }, metadata: { now } }) as C;
const changed = (events: ReturnType<typeof decideHealth>) => events.map((e) => (e.type === "InstanceStatusChanged" ? `${e.data.from}->${e.data.to}:${e.data.cause}` : e.type));

describe("instance health decider", () => {
  const checked = { ...base, check: { type: "http" as const } };

  test("given a Healthy checked instance, when a check fails, then Unhealthy with the check's cause; the same outcome again writes nothing", () => {
    const [e] = decideHealth(cmd("RecordCheck", { outcome: "failed", detail: "500", checkedBy: "node n1" }), checked);
    assert.deepEqual(changed([e!]), ["Healthy->Unhealthy:check-failed"]);
    const after = e!.type === "InstanceStatusChanged" ? e!.data.instance : base;
    assert.deepEqual(decideHealth(cmd("RecordCheck", { outcome: "failed", detail: "500", checkedBy: "node n1" }), after), []);
  });

  test("given Stopping or a node offline, check outcomes write nothing", () => {
    for (const state of [{ ...checked, status: "Stopping" as const }, { ...checked, status: "Unreachable" as const, statusCause: "node-offline" as const }]) {
      assert.deepEqual(decideHealth(cmd("RecordCheck", { outcome: "passed", detail: "200", checkedBy: "x" }), state), []);
    }
  });

  test("given a lapsed lease, check outcomes write nothing: one decision from all inputs, no flapping", () => {
    const lapsed = { ...checked, ttlSeconds: 1, status: "Unhealthy" as const, statusCause: "lease-expired" as const };
    for (const outcome of ["unreachable", "failed", "passed"] as const) {
      assert.deepEqual(decideHealth(cmd("RecordCheck", { outcome, detail: "x", checkedBy: "x" }), lapsed), []);
    }
  });

  test("given a node offline, a lapsed lease changes no status, but the grace still ends in expiry", () => {
    const offline = { ...base, ttlSeconds: 10, status: "Unreachable" as const, statusCause: "node-offline" as const };
    assert.deepEqual(decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(15)), offline), []);
    assert.deepEqual(changed(decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(30)), offline)), ["InstanceExpired"]);
  });

  test("given a check's Unreachable, when the lease lapses, then Unhealthy (lease-expired) once", () => {
    const unreachable = { ...checked, ttlSeconds: 10, status: "Unreachable" as const, statusCause: "check-unreachable" as const };
    assert.deepEqual(changed(decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(11)), unreachable)), ["Unreachable->Unhealthy:lease-expired"]);
  });

  test("given a lease of 10 s renewed at T0: at 9 s nothing, at 10 s Unhealthy, at 30 s (grace 20 s) expired", () => {
    const leased = { ...base, ttlSeconds: 10, status: "Healthy" as const, statusCause: "lease-renewed" as const };
    assert.deepEqual(decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(9)), leased), []);
    const [lapsed] = decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(10)), leased);
    assert.deepEqual(changed([lapsed!]), ["Healthy->Unhealthy:lease-expired"]);
    const unhealthy = lapsed!.type === "InstanceStatusChanged" ? lapsed!.data.instance : leased;
    assert.deepEqual(decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(20)), unhealthy), [], "no second event while in grace");
    assert.deepEqual(changed(decideHealth(cmd("CheckLease", { lastRenewal: T0 }, at(30)), unhealthy)), ["InstanceExpired"]);
  });

  test("given a lapsed lease, when renewed, then Healthy (lease-renewed); a renewal of a healthy lease writes nothing", () => {
    const lapsed = { ...base, ttlSeconds: 10, status: "Unhealthy" as const, statusCause: "lease-expired" as const };
    assert.deepEqual(changed(decideHealth(cmd("RenewLease", {}, at(12)), lapsed)), ["Unhealthy->Healthy:lease-renewed"]);
    assert.deepEqual(decideHealth(cmd("RenewLease", {}, at(12)), { ...lapsed, status: "Healthy", statusCause: "lease-renewed" }), []);
  });

  test("given a node offline and back, the instance is Unreachable and then returns to the status it had", () => {
    const [off] = decideHealth(cmd("MarkNodeOffline", { nodeId: "n1" }), { ...base, status: "Degraded" });
    const unreachable = off!.type === "InstanceStatusChanged" ? off!.data.instance : base;
    assert.equal(unreachable.statusBeforeNodeOffline, "Degraded");
    const [on] = decideHealth(cmd("MarkNodeOnline", { nodeId: "n1" }), unreachable);
    assert.deepEqual(changed([off!, on!]), ["Degraded->Unreachable:node-offline", "Unreachable->Degraded:node-online"]);
    assert.equal(on!.type === "InstanceStatusChanged" && on!.data.instance.statusBeforeNodeOffline, undefined);
  });
});

describe("expiry protection decider", () => {
  const evaluate = (leases: number, lapsedInWindow: number, lapsedNow = lapsedInWindow) => ({
    type: "EvaluateProtection" as const,
    data: { census: { leases, lapsedInWindow, lapsedNow }, share: 0.5, windowMs: 60_000 },
    metadata: { now: T0 },
  });
  const on = expiryProtectionDecider.initialState();

  test("engages when more than the share lapses within the window, and at least two leases", () => {
    assert.deepEqual(expiryProtectionDecider.decide(evaluate(10, 5), on), [], "exactly the share is not more than it");
    assert.deepEqual(expiryProtectionDecider.decide(evaluate(2, 1), on), [], "one lapse is never a burst");
    const [engaged] = expiryProtectionDecider.decide(evaluate(10, 6), on);
    assert.equal(engaged?.type, "ExpiryProtectionEngaged");
    assert.equal(engaged?.data.state.engaged, true);
  });

  test("stays engaged while too many are lapsed; releases when renewals recover", () => {
    const engaged = { enabled: true, engaged: true, since: T0 };
    assert.deepEqual(expiryProtectionDecider.decide(evaluate(10, 0, 6), engaged), []);
    assert.equal(expiryProtectionDecider.decide(evaluate(10, 0, 2), engaged)[0]?.type, "ExpiryProtectionReleased");
  });

  test("switched off by an operator, it never engages", () => {
    const [off] = expiryProtectionDecider.decide({ type: "SwitchProtection", data: { enabled: false }, metadata: { now: T0 } }, on);
    const disabled = expiryProtectionDecider.evolve(on, off!);
    assert.deepEqual(disabled, { enabled: false, engaged: false });
    assert.deepEqual(expiryProtectionDecider.decide(evaluate(10, 10), disabled), []);
  });
});
