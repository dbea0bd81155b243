/**
 * What an operator meets: adding a service's key twice, reloading the policy of every
 * registry process at once, and the messages of a login or an address that is wrong.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./harness/cli.ts";
import { spawnRegistry } from "./harness/registry.ts";
import { startNatsServer, type NatsServer } from "./harness/natsServer.ts";
import { secure, secureConfigIn, USERS } from "./harness/secure.ts";
import { until } from "./harness/until.ts";

describe("operator: registry auth add-service keeps an existing key", () => {
  test("operator - add-service run twice refuses to replace the key; --force replaces it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-add-twice-"));
    try {
      const first = await runCli(["auth", "add-service", "billing-svc", "--dir", dir, "--json"], { NATS_URL: "nats://127.0.0.1:1" });
      assert.equal(first.code, 0, first.stderr);
      const seedFile = join(dir, "billing-svc.nk");
      const seed = await readFile(seedFile, "utf8");

      const again = await runCli(["auth", "add-service", "billing-svc", "--dir", dir], { NATS_URL: "nats://127.0.0.1:1" });
      assert.equal(again.code, 2);
      assert.match(again.stderr, /billing-svc\.nk exists already: billing-svc has a key.*add --force to replace the key/);
      assert.equal(await readFile(seedFile, "utf8"), seed, "the key the server's configuration names is kept");

      const forced = await runCli(["auth", "add-service", "billing-svc", "--dir", dir, "--force", "--json"], { NATS_URL: "nats://127.0.0.1:1" });
      assert.equal(forced.code, 0, forced.stderr);
      assert.notEqual(await readFile(seedFile, "utf8"), seed);
      assert.notEqual(JSON.parse(forced.stdout).publicKey, JSON.parse(first.stdout).publicKey);

      // Billing_svc would get billing-svc's account, BILLING_SVC: refused, naming --account; nothing written.
      const alike = await runCli(["auth", "add-service", "Billing_svc", "--dir", dir], { NATS_URL: "nats://127.0.0.1:1" });
      assert.equal(alike.code, 2);
      assert.match(alike.stderr, /Billing_svc would be account BILLING_SVC, which billing-svc \(.*billing-svc\.nk\) is already: give Billing_svc an account of its own with --account NAME/);
      await assert.rejects(readFile(join(dir, "Billing_svc.nk")));
      const named = await runCli(["auth", "add-service", "Billing_svc", "--dir", dir, "--account", "BILLING_2", "--json"], { NATS_URL: "nats://127.0.0.1:1" });
      assert.equal(named.code, 0, named.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("operator: registry auth reload reloads every registry process", () => {
  let dir: string;
  let server: NatsServer;
  let policyFile: string;
  const registries: Awaited<ReturnType<typeof spawnRegistry>>[] = [];
  const as = (user: keyof typeof USERS) => ({ NATS_URL: server.url, NATS_USER: user, NATS_PASSWORD: USERS[user] });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "registry-reload-"));
    policyFile = join(dir, "policy.json");
    await copyFile(secure("policy.json"), policyFile);
    server = await startNatsServer(["-c", await secureConfigIn(dir)], { ownStore: true });
    for (const node of ["reload-node-1", "reload-node-2"]) {
      registries.push(
        await spawnRegistry(server.url, { NATS_USER: "registry", NATS_PASSWORD: USERS.registry, REGISTRY_POLICY: policyFile, OB_NODE_ID: node, OB_SELF_URL: `http://127.0.0.1:1/${node}`, REGISTRY_DATA_DIR: join(dir, node) }),
      );
    }
  });
  after(async () => {
    for (const r of registries) await r.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("operator - an admin's reload reaches both processes, each answers with its pid; the new policy is in force", async () => {
    const refused = await runCli(["i", "ls", "--slug", "billing-svc"], as("user-svc"));
    assert.equal(refused.code, 1, "user-svc may not read billing-svc yet");
    const policy = JSON.parse(await readFile(policyFile, "utf8"));
    policy.accounts.USER_SVC.reads = [...policy.accounts.USER_SVC.reads, "billing-svc"];
    await writeFile(policyFile, JSON.stringify(policy));

    // Both processes must be members before the asker can count on both answers.
    const reloaded = await until(async () => {
      const run = await runCli(["auth", "reload", "--json"], as("admin"));
      assert.equal(run.code, 0, run.stderr);
      const { processes } = JSON.parse(run.stdout);
      return processes.length === 2 ? processes : undefined;
    }, "both registry processes to answer the reload");
    assert.deepEqual(reloaded.map((p: { pid: number }) => p.pid).sort(), registries.map((r) => r.child.pid).sort());
    assert.ok(reloaded.every((p: { ok: boolean; accounts: number }) => p.ok && p.accounts === Object.keys(policy.accounts).length));
    for (const r of registries) assert.match(r.output(), /"policy reloaded"/);
    // Requests are spread over the two processes: every one of them must say the same now.
    for (let i = 0; i < 6; i++) assert.equal((await runCli(["i", "ls", "--slug", "billing-svc"], as("user-svc"))).code, 0);

    const table = await runCli(["auth", "reload"], as("admin"));
    assert.match(table.stdout, new RegExp(`${registries[0]!.child.pid!}\\s+reloaded: \\d+ accounts`));
  });

  test("operator - a policy that cannot be read is reported by every process and the last one stays in force", async () => {
    const good = await readFile(policyFile, "utf8");
    await writeFile(policyFile, "{ not json");
    try {
      const run = await runCli(["auth", "reload"], as("admin"));
      assert.equal(run.code, 4);
      assert.match(run.stdout, /NOT reloaded: REGISTRY_POLICY .* cannot be read as JSON/);
      assert.match(run.stderr, /registry processes kept their last policy \(pid \d+/);
      assert.equal((await runCli(["i", "ls", "--slug", "user-svc"], as("user-svc"))).code, 0, "the last policy still answers");
    } finally {
      await writeFile(policyFile, good);
    }
  });

  test("operator - only an admin may reload: the server does not route it for other accounts", async () => {
    for (const user of ["viewer", "user-svc", "deployer"] as const) {
      const run = await runCli(["auth", "reload"], as(user));
      assert.equal(run.code, 1, `${user}: refused, not unreachable: ${run.stderr}`);
      assert.match(run.stderr, /only an admin account may reload the policy: nats-server routes registry\.policy\.reload to the registry from ADMIN accounts alone, and the registry answers this connection's other requests; connect as an admin/, user);
    }
  });
});

describe("operator: connection errors say what to set", () => {
  let server: NatsServer;
  before(async () => (server = await startNatsServer(["--user", "reg", "--pass", "right"])));
  after(() => server.stop());

  test("operator - a wrong password names NATS_USER and NATS_PASSWORD, exit 3", async () => {
    const run = await runCli(["i", "ls"], { NATS_URL: server.url, NATS_USER: "reg", NATS_PASSWORD: "wrong" });
    assert.equal(run.code, 3);
    assert.match(run.stderr, /refused the login \(.*\); check NATS_USER=reg and NATS_PASSWORD\n$/);
  });

  test("operator - no login against a server that wants one names every way to log in", async () => {
    const run = await runCli(["i", "ls"], { NATS_URL: server.url });
    assert.equal(run.code, 3);
    assert.match(run.stderr, /this server wants a login: set NATS_USER and NATS_PASSWORD, NATS_NKEY \(a seed file\) or NATS_CREDS/);
  });

  async function listening(s: Server | ReturnType<typeof createHttpServer>): Promise<number> {
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    return (s.address() as { port: number }).port;
  }

  test("operator - NATS_URL at an HTTP server or a silent one says it is not NATS at once, not after the client's 20 s", async () => {
    const http = createHttpServer((_req, res) => res.end("hello"));
    const silent = createTcpServer(() => undefined);
    // An HTTP server speaks only when spoken to: it is silent, as is the bare TCP server.
    const talker = createTcpServer((socket) => socket.end("220 smtp.example ESMTP ready\r\n"));
    try {
      for (const [s, saw] of [
        [http, /said nothing within 2000 ms/],
        [silent, /said nothing within 2000 ms/],
        [talker, /it said "220 smtp\.example ESMTP/],
      ] as const) {
        const port = await listening(s);
        const started = Date.now();
        const run = await runCli(["i", "ls"], { NATS_URL: `nats://127.0.0.1:${port}` });
        assert.equal(run.code, 3);
        assert.match(run.stderr, new RegExp(`what answers at 127\\.0\\.0\\.1:${port} is not a NATS server \\(`));
        assert.match(run.stderr, saw);
        assert.match(run.stderr, /; set NATS_URL to a NATS server's address\n$/);
        assert.ok(Date.now() - started < 15_000, "well before the client's own 20 s timeout");
      }
    } finally {
      for (const s of [http, silent, talker]) s.close();
      (http as unknown as { closeAllConnections(): void }).closeAllConnections();
    }
  });

  test("operator - a server list with a silent server before the NATS one connects to the NATS one without waiting on the other", async () => {
    const silent = createTcpServer(() => undefined);
    try {
      const port = await listening(silent);
      const started = Date.now();
      const run = await runCli(["i", "ls", "--json"], { NATS_URL: `nats://127.0.0.1:${port},${server.url}`, NATS_USER: "reg", NATS_PASSWORD: "right" });
      assert.ok(Date.now() - started < 15_000, "the silent server was left out, not waited on for 20 s");
      // No registry runs on this server: the CLI got past connecting and asked.
      assert.equal(run.code, 3);
      assert.match(run.stderr, /no registry|not answering|no responders/i);
    } finally {
      silent.close();
    }
  });
});
