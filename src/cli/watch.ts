/**
 * `registry watch`: one line per change of the buckets as it happens, until Ctrl-C. With
 * --json, one JSON object per line: {bucket, key, operation, revision, value}.
 */
import { KvWatchInclude, Kvm } from "@nats-io/kv";
import { parseArgs, str, UsageError } from "./args.ts";
import type { CliContext } from "./context.ts";
import { namesFor } from "../contract/names.ts";

export const WATCH_HELP = `registry watch [definitions|instances|nodes] [--slug SLUG]

Prints each change of the registry's buckets as it happens (all three by default) until Ctrl-C.
--slug narrows instances to one service (the KV keys <slug>.>).

Options: --json (one JSON object per change and line), --help
`;

const KINDS = { definitions: "definition", instances: "instance", nodes: "node" } as const;

export async function watchCommand(argv: string[], ctx: CliContext, stopped: Promise<void>): Promise<void> {
  const p = parseArgs(argv, { values: ["slug"] });
  if (p.flags.help) return void ctx.out.write(WATCH_HELP);
  const wanted = p.positionals.length ? p.positionals : Object.keys(KINDS);
  for (const w of wanted) if (!(w in KINDS)) throw new UsageError(`cannot watch "${w}": choose definitions, instances or nodes`);
  const names = namesFor(ctx.config.prefix);
  const kvm = new Kvm(await ctx.nc());
  const watches = await Promise.all(
    wanted.map(async (w) => {
      const bucket = names.buckets[KINDS[w as keyof typeof KINDS]];
      const slug = str(p, "slug");
      const key = w === "instances" && slug ? `${slug}.>` : ">";
      return (await kvm.open(bucket)).watch({ key, include: KvWatchInclude.UpdatesOnly });
    }),
  );
  if (!ctx.json) ctx.out.write(`watching ${wanted.join(", ")}; Ctrl-C to stop\n`);
  await Promise.race([
    stopped,
    ...watches.map(async (watch) => {
      for await (const e of watch) {
        const value = e.operation === "PUT" ? readableJson(e) : null;
        if (ctx.json) {
          ctx.out.write(`${JSON.stringify({ bucket: e.bucket, key: e.key, operation: e.operation, revision: e.revision, value })}\n`);
        } else {
          const summary = value ? [value.status, value.url].filter(Boolean).join(" ") : "";
          ctx.out.write(`${e.created.toISOString()}  ${e.bucket}  ${e.operation}  ${e.key}${summary ? `  ${summary}` : ""}\n`);
        }
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
