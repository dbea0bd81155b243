/**
 * The dependency direction, checked on every import in src/: contract ← domain ← adapters ←
 * composition root. The domain is pure (no package, no NATS, no node:*); adapters depend on
 * contract, domain and shared infrastructure, and on one another only where this file says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const src = fileURLToPath(new URL("../src/", import.meta.url));

/** Shared infrastructure any adapter may use. */
const INFRASTRUCTURE = ["nats", "unreadable.ts", "ticker.ts", "writeQueue.ts"];
/** The arrows between adapters that are meant, each for a reason. */
const ALLOWED: Record<string, string[]> = {
  commands: ["eventstore"], // the write path appends through the event store port
  projector: ["eventstore"], // it projects the events the event store reads back
  http: ["eventstore"], // the watch feed reads appended events as the event store does
  cli: ["client", "config.ts", "access"], // the CLI is built on the client library, configured like the registry, and issues tokens in the policy's format
};
/** The client library and the CLI reach NATS through its small public module only. */
const PUBLIC_NATS = "nats/index.ts";

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith(".ts")) yield path;
  }
}

/** Each import of a file: the imported path relative to src/ (null for a package). */
function importsOf(file: string): { spec: string; target: string | null }[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)\b[^;]*?from\s+"([^"]+)"/gms)].map(([, spec]) => ({
    spec: spec!,
    target: spec!.startsWith(".") ? relative(src, join(dirname(file), spec!)) : null,
  }));
}

const layerOf = (path: string) => path.split("/")[0]!;
/** The composition root: app/ wires the adapters; main.ts is the entry; config.ts and logger.ts are read by it. */
const isRoot = (target: string) => layerOf(target) === "app" || ["main.ts", "config.ts", "logger.ts"].includes(target);

test("architecture - domain/ imports nothing but contract/ and itself: no package, no NATS, no node:*", () => {
  for (const file of files(join(src, "domain"))) {
    for (const { spec, target } of importsOf(file)) {
      assert.ok(target !== null && ["contract", "domain"].includes(layerOf(target)), `${relative(src, file)} imports ${spec}`);
    }
  }
});

test("architecture - contract/ imports only itself and typebox", () => {
  for (const file of files(join(src, "contract"))) {
    for (const { spec, target } of importsOf(file)) {
      const ok = target === null ? spec.startsWith("typebox") || spec.startsWith("node:") : layerOf(target) === "contract";
      assert.ok(ok, `${relative(src, file)} imports ${spec}`);
    }
  }
});

test("architecture - adapters import contract, domain, infrastructure and the arrows meant; never the composition root", () => {
  const adapters = readdirSync(src).filter((d) => statSync(join(src, d)).isDirectory() && !["contract", "domain", "app"].includes(d));
  for (const adapter of adapters) {
    for (const file of files(join(src, adapter))) {
      for (const { spec, target } of importsOf(file)) {
        if (target === null) continue;
        const layer = layerOf(target);
        const allowed =
          layer === adapter ||
          ["contract", "domain"].includes(layer) ||
          (INFRASTRUCTURE.includes(layer) && !((adapter === "client" || adapter === "cli") && layer === "nats" && target !== PUBLIC_NATS)) ||
          (ALLOWED[adapter] ?? []).includes(layer);
        assert.ok(allowed, `${relative(src, file)} imports ${spec}`);
        assert.ok(!isRoot(target) || (ALLOWED[adapter] ?? []).includes(target), `${relative(src, file)} imports the composition root's ${spec}`);
      }
    }
  }
});

test("architecture - every domain/ file opens with a sentence that says what it decides", () => {
  for (const file of files(join(src, "domain"))) {
    const text = readFileSync(file, "utf8");
    assert.match(text, /^\/\*\*\n \* \S/, `${relative(src, file)} has no heading comment`);
  }
});

test("architecture - the KV wire grammar ($KV. subjects, KV_ streams, the KV-Operation header) is spelled in src/nats/kvSubjects.ts only", () => {
  const grammar = /\$KV\.|KV-Operation|[`"']KV_/;
  for (const file of files(src)) {
    if (relative(src, file) === "nats/kvSubjects.ts") continue;
    const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""); // comments may name it
    assert.doesNotMatch(code, grammar, `${relative(src, file)} spells the KV wire grammar itself; use src/nats/kvSubjects.ts`);
  }
});

test("architecture - event subjects are built and read by contract/names.ts only, and events read back through eventstore/readEvents.ts", () => {
  for (const file of files(src)) {
    const path = relative(src, file);
    const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    if (path !== "contract/names.ts") assert.doesNotMatch(code, /\.events\.`|\.events\.\$\{|`\$\{[^}]*prefix\}\.events/, `${path} builds or parses an event subject itself; use names.eventSubject / eventSubjectParts`);
    if (!["eventstore/readEvents.ts", "eventstore/storedEvents.ts"].includes(path)) assert.doesNotMatch(code, /\breadEvent\(/, `${path} decodes events itself; use readEvents() or eventOf() (they count what cannot be read)`);
  }
});
