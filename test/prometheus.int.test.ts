/**
 * Prometheus (Debian's prometheus) discovering its scrape targets from the registry with
 * `http_sd_configs`: registered instances (test servers exposing /metrics) show up in its
 * /api/v1/targets, up and with the registry's labels; a removed one leaves at the next refresh.
 * And the endpoint itself: filters, the empty list, hostile labels, and a secured registry.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** A service exposing Prometheus metrics on loopback. */
async function metricsServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const server: Server = createHttpServer((req, res) => {
    res.writeHead(req.url === "/metrics" ? 200 : 404, { "content-type": "text/plain; version=0.0.4" });
    res.end(req.url === "/metrics" ? "# TYPE test_up gauge\ntest_up 1\n" : "");
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => new Promise((ok) => server.close(() => ok())) };
}

/** The scrape configuration docs/API.md gives, with this test's address. */
const prometheusConfig = (registry: string) => `
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: registry
    http_sd_configs:
      - url: ${registry}/registry-svc/prometheus/targets?slug=metrics-svc
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_registry_slug]
        target_label: service
      - source_labels: [__meta_registry_instance_id]
        target_label: instance_id
`;

describe("prometheus", () => {
  let r: TestRegistry;
  before(async () => (r = await startTestRegistry()));
  after(async () => r.stop());
  const targets = async (query = "") => (await fetch(`${r.registry.httpUrl}/registry-svc/prometheus/targets${query}`)).json();

  test("prometheus - the real Prometheus discovers registered instances, scrapes them up with the registry's labels, and drops one removed", async () => {
    const services = await Promise.all([metricsServer(), metricsServer()]);
    const ids: string[] = [];
    for (const s of services) ids.push((await r.call("instance.register", { url: s.url, slug: "metrics-svc", status: "Healthy", tags: ["blue"] })).body.instance.id);
    const dir = await mkdtemp(join(tmpdir(), "registry-prometheus-"));
    const port = await freePort();
    await writeFile(join(dir, "prometheus.yml"), prometheusConfig(r.registry.httpUrl!));
    const binary = existsSync("/usr/bin/prometheus") ? "/usr/bin/prometheus" : "prometheus";
    const prometheus = spawn(binary, [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    prometheus.stderr.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    type Active = { discoveredLabels: Record<string, string>; labels: Record<string, string>; health: string; scrapeUrl: string };
    const active = async (): Promise<Active[]> => {
      const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`)).json()) as { data: { activeTargets: Active[] } };
      return body.data.activeTargets.filter((t) => t.labels.job === "registry");
    };
    try {
      const up = await until(async () => {
        const found = await active().catch(() => []);
        return found.length === 2 && found.every((t) => t.health === "up") ? found : undefined;
      }, `Prometheus to scrape both instances, up (it said: ${output})`, 30_000);
      for (const id of ids) {
        const t = up.find((a) => a.labels.instance_id === id);
        assert.ok(t, `${id} among the targets`);
        assert.equal(t.labels.service, "metrics-svc");
        assert.equal(t.discoveredLabels.__meta_registry_tags, ",blue,");
        assert.equal(t.discoveredLabels.__meta_registry_status, "Healthy");
      }
      await r.call("instance.remove", { id: ids[0] });
      await until(async () => {
        const left = await active();
        return left.length === 1 && left[0]!.labels.instance_id === ids[1];
      }, "the removed instance to leave Prometheus's targets at its next refresh", 15_000);
    } finally {
      prometheus.kill("SIGTERM");
      await new Promise((ok) => (prometheus.exitCode !== null ? ok(undefined) : prometheus.once("exit", ok)));
      for (const s of services) await s.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("prometheus - targets filter by slug, tag and status; nothing is [] with 200; labels carry hostile values as they are, in valid JSON", async () => {
    assert.deepEqual(await targets("?slug=nobody-svc"), []);
    const { instance } = (await r.call("instance.register", { url: "http://[::1]:9200", slug: "labels-svc", status: "Degraded", tags: ['a"b', "c=d", "e,f"], metadata: { "a/b-c": 'x="1",y', "team.name": "ops", team_name: "other" } })).body;
    await r.call("instance.register", { url: "http://127.0.0.9:9201", slug: "labels-svc", status: "Unhealthy", tags: ["plain"] });
    const [group, ...rest] = (await targets("?slug=labels-svc&tag=c%3Dd&status=Degraded")) as { targets: string[]; labels: Record<string, string> }[];
    assert.equal(rest.length, 0);
    assert.deepEqual(group!.targets, ["[::1]:9200"]);
    assert.equal(group!.labels.__meta_registry_instance_id, instance.id);
    assert.equal(group!.labels.__meta_registry_tags, ',a"b,c=d,e%2Cf,', "a comma inside a tag is encoded: the commas only separate");
    assert.equal(group!.labels.__meta_registry_metadata_a_b_c, 'x="1",y', "a key's / and - become _");
    assert.equal(group!.labels.__meta_registry_metadata_team_name, "ops", "two keys that make one label name: the first in key order");
    assert.ok(Object.keys(group!.labels).every((k) => /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)), "every label name is valid");
    const res = await fetch(`${r.registry.httpUrl}/registry-svc/prometheus/targets?slug=labels-svc&limit=1`);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /unknown parameter limit: filter targets by slug, tag, status/);
  });
});
