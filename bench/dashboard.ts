/**
 * The dashboard at a large fleet's size (issue 26), measured in headless Chromium (Debian's,
 * through playwright-core): 100,000 instances in 1,000 services and 1,000 nodes beating, as a
 * registry started like `make run` holds them. Measured, each a median of a few tries:
 *
 * - first paint: from asking for the page to its table of services (or nodes, or a service's
 *   first page of instances) being on screen, in a new tab each time (nothing cached);
 * - live change: from an instance's status change being asked of the registry to the page
 *   showing it, on the services index (its counts) and on the service's page (its row);
 * - the page's JS heap once the index is shown.
 *
 *   node --import tsx bench/dashboard.ts [instances services nodes]   (default 100000 1000 1000)
 *
 * Loopback only: the nats-server and the registry are started here and stopped at the end.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { chromium, type Page } from "playwright-core";
import { heartbeat, publishHeartbeat } from "../test/harness/nodes.ts";
import { startNatsServer } from "../test/harness/natsServer.ts";
import { spawnRegistry } from "../test/harness/registry.ts";
import { loadInstances } from "./load.ts";
import { percentile, registryRequest as request, rssOf } from "./lib.ts";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const TRIES = 5;
const CHANGES = 10;
const HEARTBEAT_MS = 5000;

export type DashboardBench = {
  instances: number;
  services: number;
  nodes: number;
  /** Median ms from navigation to the view's table on screen. */
  firstPaintMs: { services: number; fleet: number; service: number };
  /** ms from the status change asked to the page showing it: p50 and the slowest of CHANGES. */
  liveChangeMs: { services: { p50: number; max: number }; service: { p50: number; max: number } };
  pageHeapMiB: number;
  registryRssMiB: number;
};

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const round = (x: number) => Math.round(x);

/** ms from `open` starting to `selector` being on screen, in a fresh tab. */
async function firstPaint(newPage: () => Promise<Page>, url: string, selector: string): Promise<number> {
  const times: number[] = [];
  for (let n = 0; n < TRIES; n++) {
    const page = await newPage();
    const started = performance.now();
    await page.goto(url);
    await page.waitForSelector(selector, { timeout: 30_000 });
    times.push(performance.now() - started);
    await page.close();
  }
  return round(median(times));
}

/** What the page shows once a status change arrived: the text of `selector`, whole or in part. */
type Shown = { selector: string; text: string; whole: boolean };

/** ms from asking for each status change to `shown(status)` holding on the page. */
async function liveChanges(nc: NatsConnection, page: Page, id: string, shown: (status: string) => Shown): Promise<{ p50: number; max: number }> {
  const times: number[] = [];
  for (let n = 0; n < CHANGES; n++) {
    const status = n % 2 === 0 ? "Unhealthy" : "Healthy";
    const started = performance.now();
    await request(nc, "instance.status", { id, status, by: "operator" });
    // A function, not a string: the page's Content-Security-Policy allows no eval.
    await page.waitForFunction(({ selector, text, whole }) => {
      const now = document.querySelector(selector)?.textContent?.trim();
      return now !== undefined && (whole ? now === text : now.includes(text));
    }, shown(status), { timeout: 30_000, polling: "raf" });
    times.push(performance.now() - started);
  }
  const sorted = times.sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 50)), max: round(sorted.at(-1)!) };
}

export async function benchDashboard(opts: { instances: number; services: number; nodes: number; log?: (line: string) => void }): Promise<DashboardBench> {
  const log = opts.log ?? (() => undefined);
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  let registry: Awaited<ReturnType<typeof spawnRegistry>> | undefined;
  let beating: ReturnType<typeof setInterval> | undefined;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
  try {
    registry = await spawnRegistry(server.url, { OB_NODE_ID: "bench-registry", REGISTRY_DATA_DIR: server.dir, REGISTRY_HTTP_ADDR: "127.0.0.1:0" });
    const httpUrl = /"http":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(registry.output())?.[1];
    if (!httpUrl) throw new Error(`the registry did not say its HTTP address: ${registry.output().slice(-500)}`);
    log(`dashboard: loading ${opts.instances} instances in ${opts.services} services, ${opts.nodes} nodes`);
    const beat = () => {
      for (let n = 0; n < opts.nodes; n++) publishHeartbeat(nc, heartbeat(`bench-node-${String(n).padStart(4, "0")}`, { region: `region-${n % 4}` }));
    };
    beat();
    beating = setInterval(beat, HEARTBEAT_MS);
    await loadInstances(nc, 0, opts.instances, Math.ceil(opts.instances / opts.services));
    const slug = "svc-000000";
    const { instances } = await request(nc, "instance.list", { slug, limit: 1 });
    const id: string = instances[0].id;

    log("dashboard: first paint and live changes in Chromium");
    const newPage = () => browser.newPage({ viewport: { width: 1400, height: 900 } });
    const firstPaintMs = {
      services: await firstPaint(newPage, `${httpUrl}/#/services`, `table.services tr[data-slug="${slug}"]`),
      fleet: await firstPaint(newPage, `${httpUrl}/#/fleet`, 'table tr[data-node="bench-node-0000"]'),
      service: await firstPaint(newPage, `${httpUrl}/#/service/${slug}`, `table.instances tr[data-instance="${id}"]`),
    };
    const page = await newPage();
    await page.goto(`${httpUrl}/#/services`);
    await page.waitForSelector(`table.services tr[data-slug="${slug}"]`, { timeout: 30_000 });
    await page.waitForSelector("#live >> text=live", { timeout: 30_000 });
    const heap = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
    // The index's Unhealthy count for the slug is 1 exactly while the instance is Unhealthy (it holds no other).
    const services = await liveChanges(nc, page, id, (status) => ({ selector: `tr[data-slug="${slug}"] td[data-status="Unhealthy"]`, text: status === "Unhealthy" ? "1" : "·", whole: true }));
    await page.goto(`${httpUrl}/#/service/${slug}`);
    await page.waitForSelector(`tr[data-instance="${id}"]`, { timeout: 30_000 });
    const service = await liveChanges(nc, page, id, (status) => ({ selector: `tr[data-instance="${id}"] .status`, text: status, whole: false }));
    return {
      instances: opts.instances,
      services: opts.services,
      nodes: opts.nodes,
      firstPaintMs,
      liveChangeMs: { services, service },
      pageHeapMiB: Math.round(heap / 1024 ** 2),
      registryRssMiB: Math.round((await rssOf(registry.child.pid!)) / 1024 ** 2),
    };
  } finally {
    clearInterval(beating);
    await browser.close();
    await nc.close();
    await registry?.stop();
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [instances = 100_000, services = 1_000, nodes = 1_000] = process.argv.slice(2).map(Number);
  const started = Date.now();
  const result = await benchDashboard({ instances, services, nodes, log: (line) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`) });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(0);
}
