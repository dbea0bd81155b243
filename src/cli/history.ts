/** `registry history`: an entity's events, or every change since a time (the audit log), as a table. */
import { Argument, type Command } from "commander";
import type { HistoryEntry, HistoryRequest } from "../contract/schemas.ts";
import { count, defined, time, UsageError } from "./args.ts";
import type { Cli } from "./context.ts";
import { table } from "./format.ts";

/** A changed field's value as one short line: none, text as it is, a list by commas, anything else as JSON. */
function valueText(v: unknown): string {
  if (v === undefined) return "none";
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.length === 0 ? "[]" : v.join(",");
  return JSON.stringify(v);
}

function change(e: HistoryEntry): string {
  if (e.from !== undefined && e.to !== undefined) return `${e.from} -> ${e.to}${e.cause ? ` (${e.cause})` : ""}`;
  if (e.changes) return e.changes.map((c) => `${c.field}: ${valueText(c.from)} -> ${valueText(c.to)}`).join("; ");
  if (e.changed) return `changed ${e.changed.join(", ")}`;
  return e.reason ?? "";
}

/** Who: the caller nats-server or a token named; a request no one named, by the face it came through; else the registry's own decision. */
function byWhom(e: HistoryEntry): string {
  if (e.by) return `${e.by.account}${e.by.user ? `/${e.by.user}` : ""}`;
  return e.via ? `unnamed (${e.via})` : "registry";
}

type HistoryOptions = { since?: string; until?: string; limit?: number; after?: number };

export function historyCommand(program: Command, cli: Cli): void {
  program
    .command("history")
    .description("an entity's events, oldest first; or with --since every change from then on (the audit log)")
    .addArgument(new Argument("[entity]", "whose events").choices(["instance", "definition", "node"]))
    .argument("[id]", "its id")
    .option("--since <time|1h>", "every change from then on: an RFC 3339 time or a duration back (s, m, h, d)", (raw: string) => time(raw))
    .option("--until <time|1h>", "up to then", (raw: string) => time(raw))
    .option("--limit <n>", "one page of at most n (else every page)", count)
    .option("--after <seq>", "the page after this sequence", count)
    .addHelpText("after", "\nExamples:\n  registry history instance inst_4f2a\n  registry history --since 1h\n")
    .action(
      cli.action<HistoryOptions>(async (ctx, [entity, id], o) => {
        if ((entity === undefined && o.since === undefined) || (entity !== undefined && id === undefined)) {
          throw new UsageError("give an entity and its id (registry history instance ID), or --since 1h for every change since then");
        }
        const req: HistoryRequest = defined({ since: o.since, until: o.until, entity: entity as HistoryRequest["entity"], id, limit: o.limit });
        const client = await ctx.client();
        const events: HistoryEntry[] = [];
        let next: number | undefined;
        for (let after = o.after; ; ) {
          const page = await client.history(defined({ ...req, after }));
          events.push(...page.events);
          next = page.next;
          if (next === undefined || o.limit !== undefined) break;
          after = next;
        }
        ctx.print({ events, ...(o.limit !== undefined && next !== undefined ? { next } : {}) }, () =>
          table(
            ["SEQ", "TIME", "TYPE", "ENTITY", "CHANGE", "BY"],
            events.map((e) => [String(e.seq), e.at, e.type, `${e.entity} ${e.id}`, change(e), byWhom(e)]),
          ),
        );
      }),
    );
}
