/**
 * `registry watch`: the current state of the registry's buckets, then one line per change as
 * it happens, until Ctrl-C; or only the changes; or every change from a bucket revision on.
 * With --json, one JSON object per line: {bucket, key, operation, revision, update, value},
 * `update` false for the state printed first.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { KvWatchInclude, Kvm } from "@nats-io/kv";
import { kvKeyOf, kvOperationOf, kvStream, kvSubject } from "../nats/index.ts";
import { Argument, type Command } from "commander";
import { RegistryError } from "../contract/errors.ts";
import { count, UsageError } from "./args.ts";
import type { Cli, CliContext } from "./context.ts";
import { namesFor } from "../contract/names.ts";

const KINDS = { definitions: "definition", instances: "instance", nodes: "node" } as const;
type Kind = keyof typeof KINDS;

type Change = { bucket: string; key: string; operation: string; revision: number | null; created: Date; update: boolean; value: Record<string, unknown> | null };
type WatchOptions = { slug?: string; changesOnly?: boolean; from?: number };

export function watchCommand(program: Command, cli: Cli): void {
  program
    .command("watch")
    .description("the current state, then each change as it happens, until Ctrl-C")
    .addArgument(new Argument("[buckets...]", "definitions, instances, nodes (default: all three)").choices(Object.keys(KINDS)))
    .option("--slug <slug>", "only this service's instances (the KV keys <slug>.>)")
    .option("--changes-only", "skip the current state: only what changes from now on")
    .option("--from <revision>", "the changes from this revision of one bucket on (in --json output), each key's latest (the buckets keep no more), then new ones", count)
    .addHelpText(
      "after",
      "\nOutside the registry's account (a service's own), only `registry watch instances --slug SLUG` works, for a slug it may read.\n" +
        "--json prints one object per line: {bucket, key, operation, revision, update, value}; update is false for the current state.\n",
    )
    .action(cli.action<WatchOptions>((ctx, buckets, o) => watch(ctx, cli, (buckets.length ? buckets : Object.keys(KINDS)) as Kind[], o)));
}

async function watch(ctx: CliContext, cli: Cli, wanted: Kind[], o: WatchOptions): Promise<void> {
  if (o.changesOnly && o.from !== undefined) throw new UsageError("--changes-only and --from say different things; give one");
  if (o.from !== undefined && wanted.length !== 1) throw new UsageError("--from is a revision of one bucket: name it, e.g. registry watch instances --from 42");
  const names = namesFor(ctx.config.prefix);
  const nc = await ctx.nc();
  const print = (c: Change) => {
    if (ctx.json) ctx.out.write(`${JSON.stringify({ bucket: c.bucket, key: c.key, operation: c.operation, revision: c.revision, update: c.update, value: c.value })}\n`);
    else {
      const summary = c.value ? [c.value.status, c.value.url].filter(Boolean).join(" ") : "";
      ctx.out.write(`${c.created.toISOString()}  ${c.bucket}  ${c.operation}  ${c.key}${summary ? `  ${summary}` : ""}\n`);
    }
  };
  const what = o.changesOnly ? "changes" : o.from !== undefined ? `changes from revision ${o.from}` : "current state, then changes";
  // Only the registry's account has the JetStream API; elsewhere the exported changes are all there is.
  const jsm = await jetstreamManager(nc).catch(() => undefined);
  if (!jsm) {
    // Outside the registry's account: the instances bucket's exported changes, for a slug this account may read.
    if (wanted.join() !== "instances" || o.slug === undefined) {
      throw new UsageError("outside the registry's account only one service's instances can be watched: registry watch instances --slug SLUG");
    }
    if (o.from !== undefined) throw new UsageError("--from needs the registry's account (it reads the bucket's stream); outside it, watch from now");
    const bucket = names.buckets.instance;
    const sub = nc.subscribe(kvSubject(bucket, `${o.slug}.>`));
    await nc.flush();
    if (sub.isClosed()) throw new RegistryError(403, `this connection may not watch the instances of ${o.slug}; its account has no grant for them`);
    if (!ctx.json) ctx.out.write(`watching instances of ${o.slug} (${what}); Ctrl-C to stop\n`);
    // Subscribed before listing, so no change falls between the two.
    if (!o.changesOnly) {
      for (const i of await (await ctx.client()).listInstances({ slug: o.slug })) {
        print({ bucket, key: `${o.slug}.${i.id}`, operation: "PUT", revision: null, created: new Date(i.updatedAt), update: false, value: i });
      }
    }
    await Promise.race([
      cli.interrupted(),
      (async () => {
        for await (const m of sub) {
          const operation = kvOperationOf(m.headers);
          print({ bucket, key: kvKeyOf(bucket, m.subject) ?? m.subject, operation, revision: null, created: new Date(), update: true, value: operation === "PUT" ? readableJson(m) : null });
        }
      })(),
    ]);
    sub.unsubscribe();
    return;
  }
  const kvm = new Kvm(nc);
  const include = o.changesOnly ? KvWatchInclude.UpdatesOnly : KvWatchInclude.LastValue;
  const watches = await Promise.all(
    wanted.map(async (w) => {
      const bucket = names.buckets[KINDS[w]];
      const key = w === "instances" && o.slug ? `${o.slug}.>` : ">";
      // What the bucket held when the watch began is its current state; later revisions are changes.
      // (The watcher's own "is an update" flag counts on num_pending, which 2.9 gives short with delete markers.)
      const stateUpTo = o.from === undefined ? (await jsm.streams.info(kvStream(bucket))).state.last_seq : 0;
      const watch = await (await kvm.open(bucket)).watch({ key, include, ...(o.from !== undefined ? { resumeFromRevision: o.from } : {}) });
      return { watch, stateUpTo };
    }),
  );
  if (!ctx.json) ctx.out.write(`watching ${wanted.join(", ")} (${what}); Ctrl-C to stop\n`);
  await Promise.race([
    cli.interrupted(),
    ...watches.map(async ({ watch, stateUpTo }) => {
      for await (const e of watch) {
        const update = e.revision > stateUpTo;
        // The current state is the keys that hold a value; a deleted key's marker is history.
        if (!update && e.operation !== "PUT") continue;
        print({ bucket: e.bucket, key: e.key, operation: e.operation, revision: e.revision, created: e.created, update, value: e.operation === "PUT" ? readableJson(e) : null });
      }
    }),
  ]);
  for (const { watch } of watches) watch.stop();
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
