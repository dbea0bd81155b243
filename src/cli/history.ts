/** `registry history`: an entity's events, or every change since a time (the audit log), as a table. */
import { Argument, type Command } from "commander";
import type { HistoryEntry, HistoryRequest } from "../contract/schemas.ts";
import { count, defined, time, UsageError } from "./args.ts";
import type { Cli } from "./context.ts";
import { table } from "./format.ts";

function change(e: HistoryEntry): string {
  if (e.from !== undefined && e.to !== undefined) return `${e.from} -> ${e.to}${e.cause ? ` (${e.cause})` : ""}`;
  if (e.changed) return `changed ${e.changed.join(", ")}`;
  return e.reason ?? "";
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
            events.map((e) => [String(e.seq), e.at, e.type, `${e.entity} ${e.id}`, change(e), e.by ? `${e.by.account}${e.by.user ? `/${e.by.user}` : ""}` : "registry"]),
          ),
        );
      }),
    );
}
