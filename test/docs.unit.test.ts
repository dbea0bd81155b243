import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { SCHEMAS_DIR } from "../src/contract/writeSchemas.ts";
import { operationRows } from "../src/contract/operations.ts";
import { publishedName } from "../src/contract/published.ts";

const operations = operationRows.map(([, op]) => ({ subject: op.subject, request: op.request, schema: publishedName(op.request), reply: publishedName(op.reply), http: op.http }));

// docs/API.md is written by hand; these checks hold it to the code and to schemas/.
const api = () => readFile(new URL("../docs/API.md", import.meta.url), "utf8");
const rowOf = (doc: string, subject: string) => doc.split("\n").find((l) => l.startsWith(`| \`registry.${subject}\` |`));

test("docs - every endpoint has its row in the API reference, naming its request and reply schemas; every HTTP route is in the routes table", async () => {
  const doc = await api();
  for (const e of operations) {
    const row = rowOf(doc, e.subject);
    assert.ok(row, `docs/API.md has no row for registry.${e.subject}`);
    if (e.schema !== undefined) assert.ok(row.includes(`(${e.schema})`), `the row of registry.${e.subject} should name ${e.schema}`);
    assert.ok(row.includes(`(${e.reply})`), `the row of registry.${e.subject} should name its reply ${e.reply}`);
    for (const route of e.http) {
      const path = `/registry-svc${route.path.replace(/:(\w+)/g, "{$1}")}`;
      assert.ok(doc.includes(`| \`${route.method} ${path}\` | \`${e.subject}\` |`), `docs/API.md's HTTP table has no row ${route.method} ${path} for ${e.subject}`);
    }
  }
  const documented = [...doc.matchAll(/^\| `registry\.([a-z]+(?:\.[a-z]+)?)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), operations.map((e) => e.subject).sort(), "no row for a subject that does not exist");
});

test("docs - each request row lists every field of its schema", async () => {
  const doc = await api();
  for (const e of operations) {
    const schema = e.request as { properties?: Record<string, unknown> };
    if (e.schema === undefined || !schema.properties) continue;
    const row = rowOf(doc, e.subject) ?? "";
    for (const field of Object.keys(schema.properties)) {
      assert.match(row, new RegExp(`[{ ,]${field}\\??[,}]`), `registry.${e.subject}: ${field} is missing from its row`);
    }
  }
});

test("docs - every schema in schemas/ is named in the API reference", async () => {
  const doc = await api();
  for (const file of await readdir(SCHEMAS_DIR)) {
    const name = file.replace(".schema.json", "");
    assert.ok(doc.includes(name), `docs/API.md does not mention ${name}`);
  }
});

test("docs - make help and the README agree on what a rebuild does: in place, never emptying the buckets", async () => {
  const makefile = await readFile(new URL("../Makefile", import.meta.url), "utf8");
  const said = /((?:# .*\n)+)rebuild:/.exec(makefile)?.[1] ?? "";
  assert.doesNotMatch(said, /^# Empties/m, said);
  assert.match(said, /in place/);
  assert.match(said, /never empties/);
  assert.match(await readFile(new URL("../README.md", import.meta.url), "utf8"), /`make rebuild` rebuilds the buckets in place/);
});
