/**
 * The package as another project installs it: `npm install <this folder>` (what a clone
 * offers before the package is published), then the `registry` command and the client
 * import, both from that project's folder.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
let r: TestRegistry;
let project: string;

const run = (file: string, args: string[], cwd: string, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(file, args, { cwd, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );

before(async () => {
  r = await startTestRegistry();
  project = await mkdtemp(join(tmpdir(), "registry-user-project-"));
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "user-project", version: "1.0.0", type: "module", private: true }));
});
after(async () => {
  await r.stop();
  await rm(project, { recursive: true, force: true });
});

test("install - the package's name is scoped, and another project installs it and runs registry from its own folder", async () => {
  const { name, bin } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { name: string; bin: Record<string, string> };
  assert.equal(name, "@nats-registry/registry");
  assert.deepEqual(Object.keys(bin), ["registry"], "the command stays registry");
  const installed = await run("npm", ["install", "--offline", "--no-audit", "--no-fund", root], project);
  assert.equal(installed.code, 0, installed.stderr);

  const env = { NATS_URL: r.server.url };
  const registered = await run(join(project, "node_modules/.bin/registry"), ["i", "register", "--url", "http://127.0.0.1:9801", "--slug", "elsewhere-svc"], project, env);
  assert.equal(registered.code, 0, registered.stderr);
  assert.match(registered.stdout, /^registered instance inst_\w+ at http:\/\/127\.0\.0\.1:9801\n$/);

  await writeFile(
    join(project, "client.js"),
    `import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "@nats-registry/registry";
const nc = await connect({ servers: process.env.NATS_URL });
const instances = await new RegistryClient(nc).listInstances({ slug: "elsewhere-svc" });
console.log(instances.map((i) => i.url).join(","));
await nc.close();
`,
  );
  // The client's own dependency, as the README's install line has the project add it.
  const linked = await run("npm", ["install", "--offline", "--no-audit", "--no-fund", join(root, "node_modules/@nats-io/transport-node")], project);
  assert.equal(linked.code, 0, linked.stderr);
  const listed = await run(process.execPath, ["client.js"], project, env);
  assert.deepEqual([listed.code, listed.stdout, listed.stderr], [0, "http://127.0.0.1:9801\n", ""]);
});

test("install - make run installs what running needs (npm packages, nats-server, jq); make test also the programs its tests run", async () => {
  // A copy of the script in a folder of its own, a PATH with only what it calls, and an apt-get that says what it was asked for.
  const repo = await mkdtemp(join(tmpdir(), "registry-install-deps-"));
  try {
    const bin = join(repo, "bin");
    await mkdir(join(repo, "scripts"), { recursive: true });
    await mkdir(join(repo, "node_modules"), { recursive: true });
    await mkdir(bin);
    await copyFile(join(root, "scripts/install-deps.sh"), join(repo, "scripts/install-deps.sh"));
    await writeFile(join(repo, "package-lock.json"), "{}");
    await writeFile(join(repo, "node_modules/.package-lock.json"), "{}"); // written after: npm ci is not needed
    for (const tool of ["dirname", "id"]) await symlink(`/usr/bin/${tool}`, join(bin, tool));
    await writeFile(join(bin, "apt-get"), `#!/bin/bash\necho "apt-get $*" >&2\n`, { mode: 0o755 });
    await writeFile(join(bin, "sudo"), `#!/bin/bash\nexec "$@"\n`, { mode: 0o755 });
    const asked = async (...args: string[]) => {
      const done = await run("/bin/bash", [join(repo, "scripts/install-deps.sh"), ...args], repo, { PATH: bin });
      assert.equal(done.code, 0, done.stderr);
      return done.stderr.split("\n").find((line) => line.startsWith("apt-get install")) ?? "";
    };
    const forRun = await asked("run");
    assert.match(forRun, /\bjq\b/, "jq is not on this PATH: make run installs it");
    for (const testOnly of ["golang-go", "prometheus", "bind9-dnsutils"]) assert.doesNotMatch(forRun, new RegExp(testOnly), `make run leaves ${testOnly} to the tests`);
    const forTests = await asked();
    for (const needed of ["jq", "golang-go", "prometheus", "bind9-dnsutils"]) assert.match(forTests, new RegExp(needed), `make test installs ${needed}`);
  } finally {
    await rm(repo, { recursive: true, force: true });
  }
});
