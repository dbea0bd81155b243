import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const readme = () => readFile(new URL("../README.md", import.meta.url), "utf8");

let r: TestRegistry;
before(async () => {
  r = await startTestRegistry();
  await until(async () => (await r.call("node.self")).code === undefined, "the registry's node to join (node.self)");
});
after(async () => r.stop());

// The tour first, as a newcomer reads it; the nats CLI section after.
test("readme - the five-minute tour runs line by line", async () => {
  const text = await readme();
  const section = text.slice(text.indexOf("## Five-minute tour"), text.indexOf("## With the nats CLI"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const lines = block.split("\n").filter((l) => l.startsWith("npx registry"));
  assert.ok(lines.length >= 10, `found ${lines.length} tour lines`);
  for (const line of lines) {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("bash", ["-c", line], { cwd: root, env: { ...process.env, NATS_URL: r.server.url }, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    assert.equal(run.code, 0, `${line}\n${run.stderr}`);
    // A line whose answer is empty (n select on a busy machine) says so on stderr.
    assert.ok(run.stdout.length > 0 || /^no /.test(run.stderr), `${line} printed nothing`);
  }
  const listed = (await r.call("instance.list", { slug: "user-svc" })).body.instances;
  assert.deepEqual(listed.map((i: { url: string }) => i.url), ["http://127.0.0.1:8081"], "the tour's registrations and removal happened");
});

test("readme - every nats req example succeeds, sent as the nats CLI sends it", async () => {
  const examples = [...(await readme()).matchAll(/^nats req (registry\.[a-z.]+) '(.*)'$/gm)].map((m) => ({ subject: m[1]!, body: m[2]! }));
  assert.ok(examples.length >= 8, `found ${examples.length} examples`);
  for (const { subject, body } of examples) {
    const reply = await r.call(subject.slice("registry.".length), body);
    assert.equal(reply.code, undefined, `${subject} ${body}: ${JSON.stringify(reply.body)}`);
  }
});

test("readme - the example service and caller block works pasted as it is: the caller waits, kill %1 deregisters", async () => {
  const text = await readme();
  const section = text.slice(text.indexOf("Then run the example service and its caller"), text.indexOf("## With the nats CLI"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  assert.match(block, /hello-service\.ts &[\s\S]*hello-caller\.ts 3[\s\S]*kill %1/);
  const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile("bash", ["-c", `${block}\nwait`], { cwd: root, env: { ...process.env, NATS_URL: r.server.url }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.split("\n").filter((l) => /^call \d -> http:\/\/127\.0\.0\.1:\d+ \(\w+\): hello from hello-\d+$/.test(l)).length, 3, run.stdout);
  assert.match(run.stdout, /hello-\d+ deregistered and stopped/);
  // Gone at once, not after its 10 s lease lapses.
  assert.deepEqual((await r.call("instance.list", { slug: "hello-svc" })).body.instances, []);
});

test("readme - every curl line of 'With curl' succeeds against the HTTP face, as written", async () => {
  const text = await readme();
  const section = text.slice(text.indexOf("## With curl"), text.indexOf("## From a service's code"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  // The watch never ends by itself; the rest answer and end.
  const lines = block.split("\n").filter((l) => l.startsWith("curl ") && !l.includes("/watch"));
  assert.ok(lines.length >= 9, `found ${lines.length} curl lines`);
  const port = new URL(r.registry.httpUrl!).port;
  for (const line of lines) {
    const script = `set -o pipefail; ${line.replaceAll("localhost:11337", `localhost:${port}`).replace("curl -s ", "curl -sf ")}`;
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("bash", ["-c", script], { cwd: root, timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
    );
    assert.equal(run.code, 0, `${line}\n${run.stdout}${run.stderr}`);
  }
});

test("readme - every dig line of 'With DNS' answers, as written, against the DNS face", async () => {
  const text = await readme();
  const section = text.slice(text.indexOf("## With DNS"), text.indexOf("## From a service's code"));
  const lines = (/```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "").split("\n").filter((l) => l.startsWith("dig "));
  assert.equal(lines.length, 4);
  await r.call("instance.register", { url: "http://127.0.0.1:8090", slug: "user-svc", status: "Healthy", tags: ["blue"] });
  await until(async () => (await r.call("node.list", {})).body.nodes.length > 0, "a node to have joined");
  const port = String(r.registry.dnsAddr!.port);
  for (const line of lines) {
    const script = `set -o pipefail; ${line.replace("-p 8600", `-p ${port}`)}`;
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("bash", ["-c", script], { cwd: root, timeout: 30_000, env: { ...process.env, NATS_URL: r.server.url } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    assert.equal(run.code, 0, `${line}\n${run.stderr}`);
    assert.match(run.stdout, /\S/, `${line} answered nothing`);
  }
});
