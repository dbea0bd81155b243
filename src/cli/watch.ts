/**
 * `registry watch`: one line per change of the buckets as it happens, until Ctrl-C. With
 * --json, one JSON object per line: {bucket, key, operation, revision, value}.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { KvWatchInclude, Kvm } from "@nats-io/kv";
import { RegistryError } from "../contract/errors.ts";
import { parseArgs, str, UsageError } from "./args.ts";
import type { CliContext } from "./context.ts";
import { namesFor } from "../contract/names.ts";

export const WATCH_HELP = `registry watch [definitions|instances|nodes] [--slug SLUG]

Prints each change of the registry's buckets as it happens (all three by default) until Ctrl-C.
--slug narrows instances to one service (the KV keys <slug>.>). Outside the registry's account
(a service's own), only \`registry watch instances --slug SLUG\` works, for a slug it may read.

Options: --json (one JSON object per change and line), --help
`;

const KINDS = { definitions: "definition", instances: "instance", nodes: "node" } as const;

type Change = { bucket: string; key: string; operation: string; revision: number | null; created: Date; value: Record<string, unknown> | null };

export async function watchCommand(argv: string[], ctx: CliContext, stopped: Promise<void>): Promise<void> {
  const p = parseArgs(argv, { values: ["slug"] });
  if (p.flags.help) return void ctx.out.write(WATCH_HELP);
  const wanted = p.positionals.length ? p.positionals : Object.keys(KINDS);
  for (const w of wanted) if (!(w in KINDS)) throw new UsageError(`cannot watch "${w}": choose definitions, instances or nodes`);
  const names = namesFor(ctx.config.prefix);
  const nc = await ctx.nc();
  const slug = str(p, "slug");
  const print = (c: Change) => {
    if (ctx.json) ctx.out.write(`${JSON.stringify({ bucket: c.bucket, key: c.key, operation: c.operation, revision: c.revision, value: c.value })}\n`);
    else {
      const summary = c.value ? [c.value.status, c.value.url].filter(Boolean).join(" ") : "";
      ctx.out.write(`${c.created.toISOString()}  ${c.bucket}  ${c.operation}  ${c.key}${summary ? `  ${summary}` : ""}\n`);
    }
  };
  const inRegistryAccount = await jetstreamManager(nc).then(() => true, () => false);
  if (!inRegistryAccount) {
    // Outside the registry's account: the instances bucket's exported changes, for a slug this account may read.
    if (wanted.join() !== "instances" || slug === undefined) {
      throw new UsageError("outside the registry's account only one service's instances can be watched: registry watch instances --slug SLUG");
    }
    const bucket = names.buckets.instance;
    const sub = nc.subscribe(`$KV.${bucket}.${slug}.>`);
    await nc.flush();
    if (sub.isClosed()) throw new RegistryError(403, `this connection may not watch the instances of ${slug}; its account has no grant for them`);
    if (!ctx.json) ctx.out.write(`watching instances of ${slug}; Ctrl-C to stop\n`);
    const prefix = `$KV.${bucket}.`;
    await Promise.race([
      stopped,
      (async () => {
        for await (const m of sub) {
          const operation = m.headers?.get("KV-Operation") || "PUT";
          print({ bucket, key: m.subject.slice(prefix.length), operation, revision: null, created: new Date(), value: operation === "PUT" ? readableJson(m) : null });
        }
      })(),
    ]);
    sub.unsubscribe();
    return;
  }
  const kvm = new Kvm(nc);
  const watches = await Promise.all(
    wanted.map(async (w) => {
      const bucket = names.buckets[KINDS[w as keyof typeof KINDS]];
      const key = w === "instances" && slug ? `${slug}.>` : ">";
      return (await kvm.open(bucket)).watch({ key, include: KvWatchInclude.UpdatesOnly });
    }),
  );
  if (!ctx.json) ctx.out.write(`watching ${wanted.join(", ")}; Ctrl-C to stop\n`);
  await Promise.race([
    stopped,
    ...watches.map(async (watch) => {
      for await (const e of watch) {
        print({ bucket: e.bucket, key: e.key, operation: e.operation, revision: e.revision, created: e.created, value: e.operation === "PUT" ? readableJson(e) : null });
      }
    }),
  ]);
  for (const w of watches) w.stop();
}

/** An entry's JSON, or null when it is not JSON: junk in a bucket is shown, never fatal. */
function readableJson(e: { json<T>(): T }): Record<string, unknown> | null {
  try {
    const value = e.json<unknown>();
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
