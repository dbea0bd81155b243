/**
 * The dashboard in headless Chromium (Debian's, driven by playwright-core): it shows what
 * exists, follows changes live within a second, and shows an instance's history. Screenshots
 * of each view go to $DASHBOARD_SHOTS when set.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { gpu, heartbeat, publishHeartbeat } from "./harness/nodes.ts";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const LIVE_MS = 1000;

describe("dashboard", () => {
  let r: TestRegistry;
  let browser: Browser;
  let page: Page;
  const shot = async (name: string) => {
    if (process.env.DASHBOARD_SHOTS) await page.screenshot({ path: join(process.env.DASHBOARD_SHOTS, `${name}.png`), fullPage: true });
  };

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
    await shot("fleet");
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
    await shot("services");
    await r.call("instance.remove", { id });
    await page.waitForSelector(`[data-instance="${id}"]`, { state: "detached", timeout: LIVE_MS });
  });

  test("filters live in the URL, so a view can be shared", async () => {
    await r.call("instance.register", { url: "http://127.0.0.1:28003", slug: "order-svc" });
    await page.goto(`${r.registry.httpUrl}/#/services?slug=order-svc`);
    await page.waitForSelector('[data-slug="order-svc"]', { timeout: 5000 });
    assert.equal(await page.$('[data-slug="user-svc"]'), null);
  });

  test("an instance shows its fields and its history as a timeline", async () => {
    const id = (await r.call("instance.register", { url: "http://127.0.0.1:28004", slug: "pay-svc", ttlSeconds: 30 })).body.instance.id as string;
    await r.call("instance.status", { id, status: "Starting", details: "warming caches" });
    await page.goto(`${r.registry.httpUrl}/#/instance/${id}`);
    await page.waitForSelector("ol.timeline >> text=InstanceStatusChanged", { timeout: 5000 });
    const text = (await page.textContent("main")) ?? "";
    assert.match(text, /InstanceRegistered/);
    assert.match(text, /warming caches/);
    assert.match(text, /30s, grace 60s/);
    await shot("instance");
  });

  test("the feed shows events as they are appended", async () => {
    await page.goto(`${r.registry.httpUrl}/#/feed`);
    await page.waitForSelector("#live >> text=live", { timeout: 5000 });
    await r.call("definition.save", { definition: { id: "feed-def", image: { name: "nginx:latest" } } });
    await page.waitForSelector("text=DefinitionSaved", { timeout: LIVE_MS });
    await shot("feed");
  });
});
