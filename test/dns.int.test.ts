/**
 * The DNS face, asked by the real `dig` (Debian's bind9-dnsutils): the instances that take
 * traffic by A/AAAA and SRV, by tag, nodes, negative answers with the SOA, truncation and TCP,
 * refusals; and random or truncated packets that crash nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { promisify } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import dnsPacket from "dns-packet";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const run = promisify(execFile);

/** A full garbage collection, so that what the heap holds afterwards is what is kept, not what is yet to be collected. */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

describe("dns", () => {
  let r: TestRegistry;
  let port: number;
  /** dig's answer section, one record a line (`name ttl IN type data`), and its status. */
  const dig = async (name: string, type = "A", ...opts: string[]) => {
    const { stdout } = await run("dig", ["@127.0.0.1", "-p", String(port), name, type, "+tries=1", "+time=3", "+noall", "+answer", "+comments", "+authority", "+additional", ...opts]);
    const status = /status: (\w+)/.exec(stdout)?.[1];
    const flags = /flags: ([a-z ]+);/.exec(stdout)?.[1]?.split(" ") ?? [];
    const records = (section: string) => {
      const body = new RegExp(`;; ${section} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(stdout)?.[1] ?? "";
      return body.split("\n").filter((l) => l && !l.startsWith(";")).map((l) => l.split(/\s+/));
    };
    return { status, flags, answers: records("ANSWER"), authority: records("AUTHORITY"), additional: records("ADDITIONAL").filter((r) => r[3] !== "OPT") };
  };
  const data = (rows: string[][]) => rows.map((row) => row.slice(4).join(" ")).sort();

  before(async () => {
    r = await startTestRegistry();
    port = r.registry.dnsAddr!.port;
    for (const [n, ip] of ["127.0.0.2", "127.0.0.3", "127.0.0.4"].entries()) {
      await r.call("instance.register", { url: `http://${ip}:${8080 + n}`, slug: "web-svc", status: "Healthy", tags: n === 0 ? ["blue"] : ["green"] });
    }
    await r.call("instance.register", { url: "http://[::1]:9090", slug: "web-svc", status: "Healthy", tags: ["green"] });
    await r.call("instance.register", { url: "http://127.0.0.5:8085", slug: "web-svc", status: "Unhealthy" });
    await r.call("instance.register", { url: "http://127.0.0.6:8086", slug: "down-svc", status: "Stopping" });
  });
  after(async () => r.stop());

  test("dns - A, AAAA and SRV give the instances that take traffic; SRV targets resolve, with their addresses in the additional section", async () => {
    const a = await dig("web-svc.service.registry");
    assert.equal(a.status, "NOERROR");
    assert.ok(a.flags.includes("aa"), "authoritative");
    assert.deepEqual(data(a.answers), ["127.0.0.2", "127.0.0.3", "127.0.0.4"], "the Unhealthy one left out");
    assert.equal(a.answers[0]![1], "5", "the default TTL");
    assert.deepEqual(data((await dig("web-svc.service.registry", "AAAA")).answers), ["::1"]);
    for (const name of ["web-svc.service.registry", "_web-svc._tcp.service.registry"]) {
      const srv = await dig(name, "SRV");
      assert.deepEqual(data(srv.answers), ["1 1 8080 7f000002.addr.registry.", "1 1 8081 7f000003.addr.registry.", "1 1 8082 7f000004.addr.registry.", "1 1 9090 00000000000000000000000000000001.addr.registry."], name);
      assert.deepEqual(data(srv.additional), ["127.0.0.2", "127.0.0.3", "127.0.0.4", "::1"]);
    }
    assert.deepEqual(data((await dig("7f000003.addr.registry")).answers), ["127.0.0.3"], "an SRV target resolves on its own too");
  });

  test("dns - a tag narrows the answer; names are case-insensitive; a node's name gives its address", async () => {
    assert.deepEqual(data((await dig("blue.web-svc.service.registry")).answers), ["127.0.0.2"]);
    assert.deepEqual(data((await dig("GREEN.Web-Svc.SERVICE.registry.")).answers), ["127.0.0.3", "127.0.0.4"]);
    await until(async () => (await r.call("node.get", { id: "self-node" })).body.node !== undefined, "the registry's own node to join");
    assert.deepEqual(data((await dig("self-node.node.registry")).answers), ["127.0.0.1"], "OB_SELF_URL http://127.0.0.1:11337");
    assert.equal((await dig("no-such-node.node.registry")).status, "NXDOMAIN");
  });

  test("dns - unknown is NXDOMAIN, known with nothing taking traffic or another type is an empty answer with the SOA; other domains and junk are refused", async () => {
    for (const [name, type, status] of [
      ["nope.service.registry", "A", "NXDOMAIN"],
      ["_.service.registry", "A", "NXDOMAIN"],
      ["down-svc.service.registry", "A", "NOERROR"],
      ["red.web-svc.service.registry", "A", "NOERROR"],
      ["web-svc.service.registry", "TXT", "NOERROR"],
      ["_web-svc._tcp.service.registry", "A", "NOERROR"],
      ["something.registry", "A", "NXDOMAIN"],
    ] as const) {
      const reply = await dig(name, type);
      assert.equal(reply.status, status, `${name} ${type}`);
      assert.deepEqual(reply.answers, [], `${name} ${type}`);
      assert.equal(reply.authority[0]?.[3], "SOA", `${name} ${type}: the SOA, for negative caching`);
      assert.equal(reply.authority[0]?.at(-1), "5", "its minimum is the negative TTL");
    }
    assert.equal((await dig("example.com")).status, "REFUSED");
    assert.equal((await dig("web-svc.service.consul")).status, "REFUSED");
  });

  test("dns - an answer too large for UDP is truncated (TC) and comes whole over TCP; dig retries over TCP by itself", async () => {
    for (let n = 0; n < 40; n++) await r.call("instance.register", { url: `http://127.0.1.${n + 1}:7000`, slug: "big-svc", status: "Healthy" });
    const udp = await dig("big-svc.service.registry", "A", "+ignore", "+noedns");
    assert.ok(udp.flags.includes("tc"), `flags ${udp.flags.join(" ")}`);
    assert.ok(udp.answers.length < 40);
    assert.equal((await dig("big-svc.service.registry", "A", "+noedns")).answers.length, 40, "dig asked again over TCP");
    assert.equal((await dig("big-svc.service.registry", "SRV", "+tcp")).answers.length, 40);
    assert.equal((await dig("big-svc.service.registry", "A", "+bufsize=4096")).answers.length, 40, "EDNS: a larger UDP answer when the client offers room");
  });

  test("dns - an instance that stops taking traffic leaves the answer; when none takes traffic, pick()'s fallback answers", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.7:8087", slug: "flip-svc", status: "Healthy" })).body;
    await r.call("instance.register", { url: "http://127.0.0.8:8088", slug: "flip-svc", status: "Unknown" });
    assert.deepEqual(data((await dig("flip-svc.service.registry")).answers), ["127.0.0.7"]);
    await r.call("instance.status", { id: instance.id, status: "Stopping" });
    await until(async () => data((await dig("flip-svc.service.registry")).answers).join() === "127.0.0.8", "the Stopping one to leave, the Unknown one to be the fallback");
  });

  test("dns - random and truncated packets crash nothing, are answered FORMERR or dropped, and memory stays flat", async () => {
    const socket = createSocket("udp4");
    const answered = new Set<number>();
    socket.on("message", (m) => m.length >= 2 && answered.add(m.readUInt16BE(0)));
    await new Promise<void>((ok) => socket.bind(0, "127.0.0.1", ok));
    const query = (id: number) => dnsPacket.encode({ type: "query", id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name: "web-svc.service.registry" }] });
    const valid = query(7);
    const send = (b: Buffer) => new Promise<void>((ok) => socket.send(b, port, "127.0.0.1", () => ok()));
    const counted = async () => {
      const metrics = await (await fetch(`${r.registry.httpUrl}/metrics`)).text();
      return Object.fromEntries([...metrics.matchAll(/registry_dns_queries_total\{rcode="(\w+)"\} (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    };
    const before = await counted();
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const PACKETS = 20_000;
    for (let n = 0; n < PACKETS; n++) {
      const kind = n % 3;
      const junk =
        kind === 0
          ? Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)))
          : kind === 1
            ? valid.subarray(0, Math.floor(random() * valid.length))
            : Buffer.from(valid.map((b) => (random() < 0.05 ? Math.floor(random() * 256) : b)));
      await send(junk);
      if (n % 200 === 199) {
        // A valid query after each batch, asked until answered: the batch has been worked through, none dropped by a full buffer.
        const id = 40_000 + n;
        await until(async () => (await send(query(id)), answered.has(id)), "a valid query after a batch of junk to be answered");
      }
    }
    socket.close();
    collectGarbage();
    const grown = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    assert.ok(grown < 16, `heap grew by ${grown.toFixed(1)} MiB over ${PACKETS} junk packets`);
    const after = await counted();
    const handled = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    const total = ["NOERROR", "FORMERR", "NXDOMAIN", "NOTIMP", "REFUSED", "dropped"].reduce((n, k) => n + handled(k), 0);
    assert.ok(total >= PACKETS, `every packet was answered or dropped and counted: ${JSON.stringify(after)}`);
    assert.ok(handled("FORMERR") > 1000 && handled("dropped") > 1000, `junk answered FORMERR or dropped: ${JSON.stringify(after)}`);
    assert.equal((await dig("web-svc.service.registry")).status, "NOERROR", "still answering");
  });
});
