import { readInstance } from "./src/contract/readers.ts";
import { compactInstance, interner } from "./src/readmodels/compact.ts";
import { addressKey } from "./src/domain/address.ts";
const N = 200_000;
const gc = (globalThis as any).gc as () => void;
import v8 from "node:v8";
const used = () => { gc(); gc(); gc(); const h = v8.getHeapSpaceStatistics(); return h.reduce((a, s) => a + s.space_used_size, 0); };
const raws: Buffer[] = [];
for (let i = 0; i < N; i++) {
  const id = `inst_019b51e0c5429${String(i).padStart(7, "0")}`;
  const slug = `svc-${String(i % 10000).padStart(5, "0")}`;
  raws.push(Buffer.from(JSON.stringify({ id, url: `http://127.${Math.floor(i / 65536) % 250}.${Math.floor(i / 256) % 256}.${1 + (i % 250)}:${10000 + (i % 50000)}`, scheme: "http", ip: `127.${Math.floor(i / 65536) % 250}.${Math.floor(i / 256) % 256}.${1 + (i % 250)}`, port: 10000 + (i % 50000), slug, tags: ["bench"], status: "Healthy", statusCause: "reported", lastHeartbeat: "2026-12-04T13:44:12.343Z", createdAt: "2026-12-04T13:44:12.343Z", updatedAt: new Date(Date.now() + i).toISOString() })));
}
const pool = interner();
let t = used();
const step = (what: string) => { const now = used(); console.log(what.padEnd(40), ((now - t) / N).toFixed(0), "B/instance"); t = now; };
const values: any[] = []; const keys: string[] = [];
for (let i = 0; i < N; i++) {
  const v = JSON.parse(raws[i]!.toString());
  const r = readInstance(v, `${v.slug}.${v.id}`);
  values.push(compactInstance((r as any).value, pool));
}
step("instances (compacted) + array slot");
for (let i = 0; i < N; i++) keys.push(Buffer.from(`${values[i].slug}.${values[i].id}`).toString());
step("keys");
const entries = new Map<string, any>();
for (let i = 0; i < N; i++) entries.set(keys[i]!, { value: values[i], revision: i + 1, version: 2 });
step("entries map + Entry objects");
const keyOfId = new Map<string, string>();
for (let i = 0; i < N; i++) keyOfId.set(values[i].id, keys[i]!);
step("keyOfId");
const bySlug = new Map<string, Set<string>>();
for (let i = 0; i < N; i++) { const s = values[i].slug; let set = bySlug.get(s); if (!set) bySlug.set(s, (set = new Set())); set.add(keys[i]!); }
step("keysOfSlug");
const idOfUrl = new Map<string, string>();
for (let i = 0; i < N; i++) idOfUrl.set(addressKey(values[i].url), values[i].id);
step("idOfUrl");
const sorted = values.map((v) => v.id).sort();
step("sorted ids");
for (const s of v8.getHeapSpaceStatistics()) console.log(s.space_name, Math.round(s.space_used_size/2**20));
(globalThis as any).keep = [values, keys, entries, keyOfId, bySlug, idOfUrl, sorted];
console.log("rss MiB", Math.round(process.memoryUsage().rss / 2 ** 20), "heap", Math.round(process.memoryUsage().heapUsed / 2 ** 20));
void raws.length;
