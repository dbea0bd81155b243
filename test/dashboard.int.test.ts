/**
 * The dashboard in headless Chromium (Debian's, driven by playwright-core): the services index,
 * a service's instances a page at a time, nodes, definitions and the feed; changes followed live
 * within a second; actions offered to the roles that may take them. Screenshots of each view go
 * to $DASHBOARD_SHOTS when set.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { tokenHash } from "../src/access/policy.ts";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { gpu, heartbeat, publishHeartbeat } from "./harness/nodes.ts";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const LIVE_MS = 1000;

/** A screenshot of the page, to $DASHBOARD_SHOTS when set (to be looked at). */
async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  if (process.env.DASHBOARD_SHOTS) await page.screenshot({ path: join(process.env.DASHBOARD_SHOTS, `${name}.png`), fullPage });
}

/** The page is no wider than its viewport: nothing to scroll sideways. */
const overflowOf = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe("dashboard", () => {
  let r: TestRegistry;
  let browser: Browser;
  let page: Page;
  let beating: ReturnType<typeof setInterval> | undefined;

  before(async () => {
    r = await startTestRegistry();
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // Every confirmation is accepted unless a test says otherwise.
    page.on("dialog", (d) => void d.accept());
    const gpuBeat = () => publishHeartbeat(r.nc, heartbeat("gpu-node", { region: "eu-west", gpus: [gpu(0, 2000, 30)] }));
    gpuBeat();
    beating = setInterval(gpuBeat, 500);
  });
  after(async () => {
    clearInterval(beating);
    await browser?.close();
    await r.stop();
  });

  test("the fleet shows nodes with usage, GPUs and status in words; an Offline node's usage is greyed as its last report", async () => {
    publishHeartbeat(r.nc, heartbeat("quiet-node", { region: "eu-west" })); // once: Offline 3 s later
    await page.goto(`${r.registry.httpUrl}/#/fleet`);
    await page.waitForSelector('[data-node="gpu-node"]', { timeout: 5000 });
    const row = (await page.textContent('[data-node="gpu-node"]')) ?? "";
    assert.match(row, /Online/);
    assert.match(row, /eu-west/);
    assert.match(row, /GPU 0/);
    assert.match((await page.textContent('[data-node="self-node"]')) ?? "", /s ago/);
    await page.waitForSelector('[data-node="quiet-node"].stale >> text=Offline', { timeout: 10_000 });
    const grey = await page.$eval('[data-node="quiet-node"] .bar > span', (el) => getComputedStyle(el).backgroundColor);
    const live = await page.$eval('[data-node="gpu-node"] .bar > span', (el) => getComputedStyle(el).backgroundColor);
    assert.equal(grey, "rgb(110, 119, 129)", "an Offline node's bars are grey");
    assert.notEqual(live, grey, "an Online node's are coloured");
    await page.fill('input[data-filter="q"]', "quiet");
    await page.waitForSelector('[data-node="gpu-node"]', { state: "detached", timeout: LIVE_MS });
    assert.ok(await page.$('[data-node="quiet-node"]'), "search by id");
    await page.fill('input[data-filter="q"]', "");
    await shot(page, "fleet");
  });

  test("the services index follows registrations, status changes and removals live, within a second; a service's page lists its instances", async () => {
    await page.goto(`${r.registry.httpUrl}/#/services`);
    await page.waitForSelector("#live >> text=live", { timeout: 5000 });
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28001", slug: "user-svc", tags: ["blue"] })).body.instance.id as string;
    await page.waitForSelector('[data-slug="user-svc"] td[data-status="Unknown"] >> text=1', { timeout: LIVE_MS });
    await r.call("instance.status", { id, status: "Healthy" });
    await page.waitForSelector('[data-slug="user-svc"] td[data-status="Healthy"] >> text=1', { timeout: LIVE_MS });
    await r.call("instance.register", { url: "http://127.0.0.1:28002", slug: "user-svc" });
    await page.waitForSelector('[data-slug="user-svc"] td[data-label="instances"] >> text=2', { timeout: LIVE_MS });
    await page.click('[data-slug="user-svc"] a');
    await page.waitForSelector(`[data-instance="${id}"] >> text=Healthy`, { timeout: 5000 });
    assert.deepEqual(await page.$$eval("table.instances thead th", (ths) => ths.map((t) => t.textContent)), ["instance", "url", "status", "tags", "updated"], "the columns have headers and say what the age is");
    await r.call("instance.status", { id, status: "Degraded" });
    await page.waitForSelector(`[data-instance="${id}"] >> text=Degraded`, { timeout: LIVE_MS });
    await shot(page, "service");
    await r.call("instance.remove", { id });
    await page.waitForSelector(`[data-instance="${id}"]`, { state: "detached", timeout: LIVE_MS });
  });

  test("the healthy share reads green when all take traffic and red when none; Unreachable is counted and filterable; a filter that matches nothing says so", async () => {
    await r.call("instance.register", { url: "http://127.0.0.1:28101", slug: "all-good-svc", status: "Healthy" });
    const down = (await r.call("instance.register", { url: "http://127.0.0.1:28102", slug: "all-down-svc", status: "Unreachable" })).body;
    assert.equal(down.instance?.status, "Unreachable", JSON.stringify(down));
    await page.goto(`${r.registry.httpUrl}/#/services`);
    await page.waitForSelector('[data-slug="all-down-svc"] td[data-status="Unreachable"] >> text=1', { timeout: 5000 });
    const level = (slug: string) => page.getAttribute(`[data-slug="${slug}"] [aria-label="healthy"]`, "class");
    assert.equal((await level("all-good-svc"))?.trim(), "bar share", "100% healthy: all in the good colour");
    assert.equal((await level("all-down-svc"))?.trim(), "bar share full", "0% healthy: the bad colour");
    await shot(page, "services");
    await page.goto(`${r.registry.httpUrl}/#/services?status=Unreachable`);
    await page.waitForSelector('[data-slug="all-down-svc"]', { timeout: 5000 });
    assert.equal(await page.$('[data-slug="all-good-svc"]'), null);
    assert.equal(await page.$eval('select[data-filter="status"]', (s) => (s as HTMLSelectElement).value), "Unreachable", "the select says the filter in force");
    await page.goto(`${r.registry.httpUrl}/#/services?q=no-such-svc`);
    await page.waitForSelector("text=no service matches these filters", { timeout: 5000 });
    assert.equal(await page.$("text=no instances yet"), null);
    await page.goto(`${r.registry.httpUrl}/#/service/all-good-svc?status=Stopping`);
    await page.waitForSelector("text=no instance matches these filters", { timeout: 5000 });
    assert.equal((await fetch(`${r.registry.httpUrl}/favicon.ico`)).status, 204, "no 404 for the icon browsers ask for");
  });

  test("the index sorts by a column and searches by slug; long lists come a page at a time, from the API's pages", async () => {
    const registrations = [];
    for (let n = 0; n < 105; n++) registrations.push(r.call("instance.register", { url: `http://127.0.0.2:${30000 + n}`, slug: `page-svc-${String(n).padStart(3, "0")}`, status: n === 7 ? "Unhealthy" : "Healthy" }));
    for (let n = 0; n < 60; n++) registrations.push(r.call("instance.register", { url: `http://127.0.0.3:${30000 + n}`, slug: "big-svc" }));
    await Promise.all(registrations);
    await page.goto(`${r.registry.httpUrl}/#/services?q=page-svc`);
    await page.waitForSelector("text=1–100 of 105", { timeout: 5000 });
    assert.equal(await page.locator("table.services tbody tr").count(), 100, "a page of 100 services");
    await page.click("text=next →");
    await page.waitForSelector('[data-slug="page-svc-104"]', { timeout: LIVE_MS });
    await page.goto(`${r.registry.httpUrl}/#/services?q=page-svc`);
    await page.click('th[data-sort="healthy"]');
    await page.waitForSelector('th[data-sort="healthy"][aria-sort="ascending"]', { timeout: LIVE_MS });
    assert.equal(await page.getAttribute("table.services tbody tr:first-child", "data-slug"), "page-svc-007", "the least healthy first");
    await page.goto(`${r.registry.httpUrl}/#/service/big-svc`);
    await page.waitForSelector("text=page 1, 50 shown", { timeout: 5000 });
    const first = await page.getAttribute("table.instances tbody tr:first-child", "data-instance");
    await page.click("text=next →");
    await page.waitForSelector("text=page 2, 10 shown", { timeout: 5000 });
    assert.notEqual(await page.getAttribute("table.instances tbody tr:first-child", "data-instance"), first);
    await page.click("text=← previous");
    await page.waitForSelector("text=page 1, 50 shown", { timeout: 5000 });
    assert.equal(await page.getAttribute("table.instances tbody tr:first-child", "data-instance"), first);
  });

  test("an instance shows its fields, its check in words and its history with old and new values and callers", async () => {
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28004", slug: "pay-svc", tags: ["a"], ttlSeconds: 30, metadata: { version: "2", zone: "eu-1a" }, check: { type: "http", path: "/health", intervalMs: 5000 } })).body.instance.id as string;
    await r.call("instance.register", { url: "http://127.0.0.1:28004", slug: "pay-svc", tags: ["b"] });
    await r.call("instance.status", { id, status: "Starting", details: "<b>warming</b> caches" });
    await page.goto(`${r.registry.httpUrl}/#/instance/${id}`);
    await page.waitForSelector("ol.timeline >> text=InstanceStatusChanged", { timeout: 5000 });
    const text = (await page.textContent("main")) ?? "";
    assert.match(text, /InstanceRegistered/);
    assert.match(text, /Unknown → ▲ Starting/);
    assert.match(text, /tags: a → b/, "an update says what it changed from and to");
    assert.match(text, /by an unnamed caller \(nats\)/, "a request on an open registry is not the registry's own decision");
    assert.match(text, /<b>warming<\/b> caches/, "what a client sent is shown as text, never as markup");
    assert.match(text, /30s, grace 60s/);
    assert.match(text, /checkhttp \/health every 5 s, timeout 2 s/, "the check in words, not JSON");
    assert.doesNotMatch(text, /"type":/);
    assert.match(text, /metadataversion=2, zone=eu-1a/, "its metadata");
    await shot(page, "instance");
  });

  test("actions: maintenance and back, deregistration, expiry protection and node removal, each confirmed, said and in the history with its caller", async () => {
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28301", slug: "act-svc", status: "Healthy" })).body.instance.id as string;
    await page.goto(`${r.registry.httpUrl}/#/instance/${id}`);
    await page.click("text=Set Stopping (maintenance)");
    await page.waitForSelector("#notice.ok >> text=is Stopping (maintenance)", { timeout: 5000 });
    assert.equal((await r.call("instance.get", { id })).body.instance.status, "Stopping");
    await page.waitForSelector("ol.timeline >> text=by an unnamed caller (http)", { timeout: LIVE_MS });
    await page.click("text=Back in service (Healthy)");
    await page.waitForSelector("#notice.ok >> text=is Healthy again", { timeout: 5000 });
    assert.equal((await r.call("instance.get", { id })).body.instance.status, "Healthy");
    // Declined: nothing is done.
    page.removeAllListeners("dialog");
    page.once("dialog", (d) => void d.dismiss());
    await page.click("text=Deregister");
    assert.equal((await r.call("instance.get", { id })).body.instance?.id, id, "a declined confirmation does nothing");
    page.on("dialog", (d) => void d.accept());
    await page.click("text=Deregister");
    await page.waitForSelector(`#notice.ok >> text=Deregistered instance ${id}`, { timeout: 5000 });
    await page.waitForSelector(`text=no instance ${id} now`, { timeout: LIVE_MS });
    assert.equal((await r.call("instance.get", { id })).code, 404);
    await shot(page, "instance-deregistered");

    await page.goto(`${r.registry.httpUrl}/#/services`);
    await page.click("text=Turn it off");
    await page.waitForSelector(".protection >> text=off", { timeout: 5000 });
    assert.equal((await r.call("health.status")).body.protection.enabled, false);
    await page.click("text=Turn it on");
    await page.waitForSelector(".protection >> text=on, idle", { timeout: 5000 });

    publishHeartbeat(r.nc, heartbeat("doomed-node"));
    await page.goto(`${r.registry.httpUrl}/#/node/doomed-node`);
    await page.click("text=Remove node");
    await page.waitForSelector("#notice.ok >> text=Removed node doomed-node", { timeout: 5000 });
    assert.equal((await r.call("node.get", { id: "doomed-node" })).code, 404);
  });

  test("a node shows its usage, GPUs and the instances naming it; definitions show ports, requirements and environment", async () => {
    const gpuUrl = heartbeat("gpu-node").url;
    await r.call("instance.register", { url: "http://127.0.0.1:28005", slug: "gpu-svc", nodeUrl: gpuUrl });
    await page.goto(`${r.registry.httpUrl}/#/node/gpu-node`);
    await page.waitForSelector("table.instances >> text=http://127.0.0.1:28005", { timeout: 5000 });
    assert.match((await page.textContent("main")) ?? "", /Test GPU/);
    await shot(page, "node");
    await page.goto(`${r.registry.httpUrl}/#/node/self-node`);
    await page.waitForSelector("text=no instance names this node", { timeout: 5000 });
    await r.call("definition.save", {
      definition: { id: "web", image: { name: "nginx:latest", internalPorts: [80] }, ports: [{ host: 8080, internal: 80 }], envars: [{ key: "MODE", value: "prod" }], requirements: { cpuCores: 2, memoryBytes: 2 * 1024 ** 3 } },
    });
    await page.goto(`${r.registry.httpUrl}/#/definitions`);
    await page.waitForSelector('[data-definition="web"] >> text=8080->80', { timeout: 5000 });
    assert.match((await page.textContent('[data-definition="web"]')) ?? "", /2 CPU cores, 2\.0 GiB memory/);
    await shot(page, "definitions");
    await page.click('[data-definition="web"] a');
    await page.waitForSelector("text=MODE=prod", { timeout: 5000 });
    assert.match((await page.textContent("main")) ?? "", /ports8080->80 \(host->internal\)/);
  });

  test("at 390 px every view reads without sideways scrolling, and ids are cut, never broken mid-word", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const [view, ready] of [["#/services", '[data-slug="gpu-svc"]'], ["#/service/gpu-svc", "table.instances"], ["#/fleet", '[data-node="gpu-node"]'], ["#/node/gpu-node", "table.instances"], ["#/definitions", '[data-definition="web"]']] as const) {
        await page.goto(`${r.registry.httpUrl}/${view}`);
        await page.waitForSelector(ready, { timeout: 5000 });
        assert.ok((await overflowOf(page)) <= 0, `${view} is wider than a phone`);
        const tall = await page.$$eval(".ident", (els) => els.filter((e) => e.getBoundingClientRect().height > 30).map((e) => e.textContent));
        assert.deepEqual(tall, [], `${view}: an id or URL wraps over lines`);
        await shot(page, `phone-${view.slice(2).replace(/\//g, "-")}`, false);
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  test("the feed opens with the recent changes, each with its slug, from -> to and caller", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:28201", slug: "feed-history-svc" })).body;
    await r.call("instance.status", { id: instance.id, status: "Stopping" });
    await page.goto(`${r.registry.httpUrl}/#/fleet`); // another view first: the feed view is rendered from what the page loaded
    await page.goto(`${r.registry.httpUrl}/#/feed`);
    const entry = page.locator(`ol.timeline li:has-text("InstanceStatusChanged"):has(a:text("${instance.id}"))`);
    await entry.waitFor({ timeout: 5000 });
    const text = (await entry.textContent()) ?? "";
    assert.match(text, /feed-history-svc/);
    assert.match(text, /Unknown\s*→\s*▼ Stopping/);
    assert.match(text, /by an unnamed caller \(nats\)/);
    await shot(page, "feed-opened");
  });

  test("the feed shows events as they are appended", async () => {
    await page.goto(`${r.registry.httpUrl}/#/feed`);
    await page.waitForSelector("#live >> text=live", { timeout: 5000 });
    await r.call("definition.save", { definition: { id: "feed-def", image: { name: "nginx:latest" } } });
    await page.waitForSelector("text=DefinitionSaved", { timeout: LIVE_MS });
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28006", slug: "fed" })).body.instance.id as string;
    await page.click(`ol.timeline a:text("${id}")`, { timeout: LIVE_MS });
    await page.waitForSelector(`h2:text("Instance ${id}")`, { timeout: 5000 });
    await shot(page, "feed");
  });
});

describe("dashboard in a secured setup", () => {
  test("it asks for a token, shows only what the token's account may read, and offers only the actions its role may take", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-dashboard-policy-"));
    const policy = JSON.parse(await readFile(fileURLToPath(new URL("../secure/policy.json", import.meta.url)), "utf8"));
    policy.httpTokens = { [tokenHash("svc-token")]: { account: "ORDER_SVC", name: "order team" }, [tokenHash("viewer-token")]: { account: "VIEWER", name: "on-call" } };
    await writeFile(join(dir, "policy.json"), JSON.stringify(policy));
    const r = await startTestRegistry({ policyFile: join(dir, "policy.json") });
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
    try {
      const order = (await r.call("instance.register", { url: "http://127.0.0.1:28101", slug: "order-svc" })).body.instance.id as string;
      await r.call("instance.register", { url: "http://127.0.0.1:28102", slug: "user-svc" });
      const page = await browser.newPage();
      page.on("dialog", (d) => void d.accept());
      await page.goto(`${r.registry.httpUrl}/#/services`);
      await page.waitForSelector("#login >> text=bearer token", { timeout: 5000 });
      await page.fill("#token", "svc-token");
      await page.click("#login button");
      await page.waitForSelector('[data-slug="order-svc"]', { timeout: 5000 });
      assert.equal(await page.$('[data-slug="user-svc"]'), null, "another service's instances stay hidden");
      assert.equal(await page.$("text=Turn it off"), null, "a service may not switch expiry protection");
      await r.call("instance.register", { url: "http://127.0.0.1:28103", slug: "user-svc" });
      await r.call("instance.register", { url: "http://127.0.0.1:28104", slug: "order-svc" });
      await page.waitForSelector('[data-slug="order-svc"] td[data-label="instances"] >> text=2', { timeout: LIVE_MS });
      assert.equal(await page.$('[data-slug="user-svc"]'), null, "nor do they arrive live");
      await page.goto(`${r.registry.httpUrl}/#/instance/${order}`);
      await page.click("text=Set Stopping (maintenance)");
      await page.waitForSelector("ol.timeline >> text=by ORDER_SVC", { timeout: 5000 });
      await shot(page, "secured-service");

      const viewer = await browser.newPage();
      await viewer.goto(`${r.registry.httpUrl}/#/instance/${order}`);
      await viewer.fill("#token", "viewer-token");
      await viewer.click("#login button");
      await viewer.waitForSelector("ol.timeline >> text=InstanceStatusChanged", { timeout: 5000 });
      assert.match((await viewer.textContent("#who")) ?? "", /VIEWER \(viewer\)/);
      assert.equal(await viewer.$("button[data-action]"), null, "a viewer is offered no action");
    } finally {
      await browser.close();
      await r.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("dashboard and expiry protection", () => {
  test("the services view says so, live, when expiry protection engages", async () => {
    const r = await startTestRegistry();
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
    try {
      const page = await browser.newPage();
      await page.goto(`${r.registry.httpUrl}/#/services`);
      await page.waitForSelector("#live >> text=live", { timeout: 5000 });
      // Four leases that are never renewed: all of them lapse within the window, over the 50% limit.
      for (let n = 0; n < 4; n++) await r.call("instance.register", { url: `http://127.0.0.1:${28200 + n}`, slug: "lapsing", ttlSeconds: 0.5, graceSeconds: 0.5 });
      await page.waitForSelector(".banner >> text=Expiry protection is engaged", { timeout: 10_000 });
      await shot(page, "protection");
    } finally {
      await browser.close();
      await r.stop();
    }
  });
});
