/**
 * The README's dashboard screenshots, made again: a registry on free loopback ports with a few
 * services, three nodes (one gone Offline) and a definition, shot in headless Chromium at
 * 1,400 px and at 390 px into docs/.
 *
 *   node --import tsx scripts/dashboard-screenshots.ts
 */
import { chromium } from "playwright-core";
import { gpu, heartbeat, publishHeartbeat } from "../test/harness/nodes.ts";
import { startTestRegistry } from "../test/harness/registry.ts";
import { until } from "../test/harness/until.ts";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SERVICES: [string, string[]][] = [
  ["user-svc", ["Healthy", "Healthy", "Healthy", "Healthy", "Healthy", "Degraded"]],
  ["order-svc", ["Healthy", "Healthy", "Unhealthy", "Stopping"]],
  ["payment-svc", ["Healthy", "Healthy", "Healthy"]],
  ["search-svc", ["Healthy", "Healthy", "Healthy", "Unreachable", "Unreachable"]],
  ["mail-svc", ["Starting", "Unknown"]],
];

const r = await startTestRegistry({ offlineAfterMs: 3000 });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
const beat = () => {
  publishHeartbeat(r.nc, heartbeat("node-a", { region: "eu-west", cpuPercent: 35, gpus: [gpu(0, 6000, 64), gpu(1, 2000, 12)] }));
  publishHeartbeat(r.nc, heartbeat("node-b", { region: "eu-west", cpuPercent: 82, freeMemoryGiB: 3 }));
};
const beating = setInterval(beat, 1000);
try {
  publishHeartbeat(r.nc, heartbeat("node-c", { region: "us-east", cpuPercent: 20 })); // once: Offline 3 s later
  beat();
  let port = 8080;
  let first = "";
  for (const [slug, statuses] of SERVICES) {
    for (const [n, status] of statuses.entries()) {
      const reply = await r.call("instance.register", { url: `http://127.0.0.1:${port++}`, slug, tags: [n % 2 ? "blue" : "green"], nodeUrl: heartbeat(n % 2 ? "node-b" : "node-a").url, status: "Starting" });
      const { id } = (reply.body as { instance: { id: string } }).instance;
      await r.call("instance.status", { id, status, by: "operator" });
      first ||= id;
    }
  }
  await r.call("instance.register", { url: "http://127.0.0.1:8080", slug: "user-svc", tags: ["blue", "canary"], metadata: { version: "2.4.1" } });
  await r.call("definition.save", {
    definition: { id: "user-svc-def", image: { name: "registry.local/user-svc:2.4.1", internalPorts: [8080] }, ports: [{ host: 8080, internal: 8080 }], envars: [{ key: "LOG_LEVEL", value: "info" }], requirements: { cpuCores: 1, memoryBytes: 512 * 1024 ** 2 } },
  });
  await until(async () => ((await r.call("node.get", { id: "node-c" })).body as { node?: { status: string } }).node?.status === "Offline", "node-c to go Offline");
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  const shoot = async (hash: string, ready: string, file: string) => {
    await page.goto(`${r.registry.httpUrl}/${hash}`);
    await page.waitForSelector(ready);
    await page.screenshot({ path: `docs/${file}` });
  };
  await shoot("#/services", '[data-slug="user-svc"]', "dashboard-services.png");
  await shoot("#/service/user-svc", "table.instances", "dashboard-service.png");
  await shoot(`#/instance/${first}`, "ol.timeline >> text=InstanceUpdated", "dashboard-instance.png");
  await shoot("#/fleet", '[data-node="node-c"].stale', "dashboard-fleet.png");
  await page.setViewportSize({ width: 390, height: 800 });
  await shoot("#/services", '[data-slug="user-svc"]', "dashboard-phone.png");
} finally {
  clearInterval(beating);
  await browser.close();
  await r.stop();
}
process.exit(0);
