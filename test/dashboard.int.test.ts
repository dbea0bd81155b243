/**
 * The dashboard in headless Chromium (Debian's, driven by playwright-core): it shows what
 * exists, follows changes live within a second, and shows an instance's history. Screenshots
 * of each view go to $DASHBOARD_SHOTS when set.
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
async function shot(page: Page, name: string): Promise<void> {
  if (process.env.DASHBOARD_SHOTS) await page.screenshot({ path: join(process.env.DASHBOARD_SHOTS, `${name}.png`), fullPage: true });
}

describe("dashboard", () => {
  let r: TestRegistry;
  let browser: Browser;
  let page: Page;

  before(async () => {
    r = await startTestRegistry();
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await r.stop();
  });

  test("the fleet shows the nodes with their usage, GPUs and status in words", async () => {
    publishHeartbeat(r.nc, heartbeat("gpu-node", { region: "eu-west", gpus: [gpu(0, 2000, 30)] }));
    await page.goto(`${r.registry.httpUrl}/#/fleet`);
    await page.waitForSelector('[data-node="gpu-node"]', { timeout: 5000 });
    const row = await page.textContent('[data-node="gpu-node"]');
    assert.match(row ?? "", /Online/);
    assert.match(row ?? "", /eu-west/);
    assert.match(row ?? "", /GPU 0/);
    assert.match((await page.textContent('[data-node="self-node"]')) ?? "", /s ago/);
    await shot(page, "fleet");
  });

  test("services follow registrations, status changes and removals live, within a second", async () => {
    await page.goto(`${r.registry.httpUrl}/#/services`);
    await page.waitForSelector("text=no instances yet", { timeout: 5000 });
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28001", slug: "user-svc", tags: ["blue"] })).body.instance.id as string;
    await page.waitForSelector(`[data-instance="${id}"]`, { timeout: LIVE_MS });
    await r.call("instance.status", { id, status: "Healthy" });
    await page.waitForSelector(`[data-instance="${id}"] >> text=Healthy`, { timeout: LIVE_MS });
    await r.call("instance.register", { url: "http://127.0.0.1:28002", slug: "user-svc" });
    await page.waitForSelector('[data-slug="user-svc"] >> text=2 instances', { timeout: LIVE_MS });
    await shot(page, "services");
    await r.call("instance.remove", { id });
    await page.waitForSelector(`[data-instance="${id}"]`, { state: "detached", timeout: LIVE_MS });
  });

  test("the healthy share reads green when all take traffic and red when none; Unreachable is counted and filterable; a filter that matches nothing says so", async () => {
    await r.call("instance.register", { url: "http://127.0.0.1:28101", slug: "all-good-svc", status: "Healthy" });
    const down = (await r.call("instance.register", { url: "http://127.0.0.1:28102", slug: "all-down-svc", status: "Unreachable" })).body;
    assert.equal(down.instance?.status, "Unreachable", JSON.stringify(down));
    await page.goto(`${r.registry.httpUrl}/#/services`);
    await page.waitForSelector('[data-slug="all-down-svc"] >> text=Unreachable', { timeout: 5000 });
    await shot(page, "services-health");
    // The cards' columns have headers, say what the age is, and line up from one service to the next.
    assert.deepEqual(await page.$$eval('[data-slug="all-good-svc"] thead th', (ths) => ths.map((t) => t.textContent)), ["instance", "url", "status", "tags", "updated"]);
    const columnsAt = (slug: string) => page.$$eval(`[data-slug="${slug}"] tbody tr:first-child td`, (tds) => tds.map((td) => Math.round(td.getBoundingClientRect().left)));
    assert.deepEqual(await columnsAt("all-good-svc"), await columnsAt("all-down-svc"));
    const level = (slug: string) => page.getAttribute(`[data-slug="${slug}"] [aria-label="healthy"]`, "class");
    assert.equal((await level("all-good-svc"))?.trim(), "bar share", "100% healthy: all in the good colour");
    assert.equal((await level("all-down-svc"))?.trim(), "bar share full", "0% healthy: the bad colour");
    await page.goto(`${r.registry.httpUrl}/#/services?status=Unreachable`);
    await page.waitForSelector('[data-slug="all-down-svc"]', { timeout: 5000 });
    assert.equal(await page.$('[data-slug="all-good-svc"]'), null);
    assert.equal(await page.$eval('select[data-filter="status"]', (s) => (s as HTMLSelectElement).value), "Unreachable", "the select says the filter in force");
    await page.goto(`${r.registry.httpUrl}/#/services?slug=no-such-svc`);
    await page.waitForSelector("text=no instance matches these filters", { timeout: 5000 });
    assert.equal(await page.$("text=no instances yet"), null);
    assert.equal((await fetch(`${r.registry.httpUrl}/favicon.ico`)).status, 204, "no 404 for the icon browsers ask for");
    await shot(page, "services-nothing-matches");
  });

  test("filters live in the URL, so a view can be shared", async () => {
    await r.call("instance.register", { url: "http://127.0.0.1:28003", slug: "order-svc" });
    await page.goto(`${r.registry.httpUrl}/#/services?slug=order-svc`);
    await page.waitForSelector('[data-slug="order-svc"]', { timeout: 5000 });
    assert.equal(await page.$('[data-slug="user-svc"]'), null);
  });

  test("an instance shows its fields and its history as a timeline", async () => {
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28004", slug: "pay-svc", ttlSeconds: 30, metadata: { version: "2", zone: "eu-1a" } })).body.instance.id as string;
    await r.call("instance.status", { id, status: "Starting", details: "<b>warming</b> caches" });
    await page.goto(`${r.registry.httpUrl}/#/instance/${id}`);
    await page.waitForSelector("ol.timeline >> text=InstanceStatusChanged", { timeout: 5000 });
    const text = (await page.textContent("main")) ?? "";
    assert.match(text, /InstanceRegistered/);
    assert.match(text, /Unknown → ▲ Starting the instance set Starting/);
    assert.match(text, /<b>warming<\/b> caches/, "what a client sent is shown as text, never as markup");
    assert.match(text, /30s, grace 60s/);
    assert.match(text, /metadataversion=2, zone=eu-1a/, "its metadata");
    await shot(page, "instance");
  });

  test("a node shows its usage, its GPUs and the instances on it; definitions list; a phone-sized page still reads", async () => {
    const gpuUrl = heartbeat("gpu-node").url;
    await r.call("instance.register", { url: "http://127.0.0.1:28005", slug: "gpu-svc", nodeUrl: gpuUrl });
    await page.goto(`${r.registry.httpUrl}/#/node/gpu-node`);
    await page.waitForSelector("text=Instances on it", { timeout: 5000 });
    assert.match((await page.textContent("main")) ?? "", /Test GPU[\s\S]*gpu-svc/);
    await shot(page, "node");
    await r.call("definition.save", { definition: { id: "web", image: { name: "nginx:latest", internalPorts: [80] } } });
    await page.goto(`${r.registry.httpUrl}/#/definitions`);
    await page.waitForSelector("text=nginx:latest", { timeout: 5000 });
    await shot(page, "definitions");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${r.registry.httpUrl}/#/services`);
    await page.waitForSelector('[data-slug="gpu-svc"]', { timeout: 5000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone`);
    await shot(page, "phone");
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  test("the feed opens with the recent changes, each with its slug and from -> to", async () => {
    const { instance } = (await r.call("instance.register", { url: "http://127.0.0.1:28201", slug: "feed-history-svc" })).body;
    await r.call("instance.status", { id: instance.id, status: "Stopping" });
    await page.goto(`${r.registry.httpUrl}/#/fleet`); // another view first: the feed view is rendered from what the page loaded
    await page.goto(`${r.registry.httpUrl}/#/feed`);
    const entry = page.locator(`ol.timeline li:has-text("InstanceStatusChanged"):has(a:text("${instance.id}"))`);
    await entry.waitFor({ timeout: 5000 });
    const text = (await entry.textContent()) ?? "";
    assert.match(text, /feed-history-svc/);
    assert.match(text, /Unknown\s*→\s*▼ Stopping/);
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
  test("it asks for a token and shows only what the token's account may read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "registry-dashboard-policy-"));
    const policy = JSON.parse(await readFile(fileURLToPath(new URL("../secure/policy.json", import.meta.url)), "utf8"));
    policy.httpTokens = { [tokenHash("svc-token")]: { account: "ORDER_SVC", name: "order team" } };
    await writeFile(join(dir, "policy.json"), JSON.stringify(policy));
    const r = await startTestRegistry({ policyFile: join(dir, "policy.json") });
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
    try {
      await r.call("instance.register", { url: "http://127.0.0.1:28101", slug: "order-svc" });
      await r.call("instance.register", { url: "http://127.0.0.1:28102", slug: "user-svc" });
      const page = await browser.newPage();
      await page.goto(`${r.registry.httpUrl}/#/services`);
      await page.waitForSelector("#login >> text=bearer token", { timeout: 5000 });
      await page.fill("#token", "svc-token");
      await page.click("#login button");
      await page.waitForSelector('[data-slug="order-svc"]', { timeout: 5000 });
      assert.equal(await page.$('[data-slug="user-svc"]'), null, "another service's instances stay hidden");
      await r.call("instance.register", { url: "http://127.0.0.1:28103", slug: "user-svc" });
      await r.call("instance.register", { url: "http://127.0.0.1:28104", slug: "order-svc" });
      await page.waitForSelector('[data-slug="order-svc"] >> text=2 instances', { timeout: LIVE_MS });
      assert.equal(await page.$('[data-slug="user-svc"]'), null, "nor do they arrive live");
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
