/** `registry history`: an entity's events, or every change since a time (the audit log), as a table. */
import type { HistoryEntry, HistoryRequest } from "../contract/schemas.ts";
import { int, parseArgs, str, UsageError } from "./args.ts";
import type { CliContext } from "./context.ts";
import { table } from "./format.ts";

export const HISTORY_HELP = `registry history instance|definition|node ID [--limit N] [--after SEQ]
registry history --since 1h|30m|2d|TIME [--until TIME] [--limit N] [--after SEQ]

  The events of one entity, oldest first; or, with --since, every change from then on (the
  audit log). Times are RFC 3339 or a duration back from now (s, m, h, d). All pages are
  printed unless --limit gives one; --json prints the API's JSON.
`;

const ENTITIES = ["instance", "definition", "node"] as const;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An RFC 3339 time, or a duration back from now (`1h`), as RFC 3339. */
export function timeArg(value: string, flag: string, now = Date.now()): string {
  const ago = /^(\d+)([smhd])$/.exec(value);
  if (ago) return new Date(now - Number(ago[1]) * UNITS[ago[2]!]!).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new UsageError(`--${flag} must be a time such as 2026-11-24T10:00:00Z or a duration such as 1h, not ${value}`);
  return new Date(value).toISOString();
}

/** `--as-of`: a stream sequence (digits), an RFC 3339 time, or a duration back from now. */
export function asOfArg(value: string | undefined): string | number | undefined {
  if (value === undefined) return undefined;
  return /^\d+$/.test(value) ? Number(value) : timeArg(value, "as-of");
}

function change(e: HistoryEntry): string {
  if (e.from !== undefined && e.to !== undefined) return `${e.from} -> ${e.to}${e.cause ? ` (${e.cause})` : ""}`;
  if (e.changed) return `changed ${e.changed.join(", ")}`;
  return e.reason ?? "";
}

export async function historyCommand(argv: string[], ctx: CliContext): Promise<void> {
  const p = parseArgs(argv, { values: ["since", "until", "limit", "after"] });
  if (p.flags.help) return void ctx.out.write(HISTORY_HELP);
  const [entity, id, ...extra] = p.positionals;
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(" ")}; see registry history --help`);
  const since = str(p, "since");
  const until = str(p, "until");
  const req: HistoryRequest = {
    ...(since !== undefined ? { since: timeArg(since, "since") } : {}),
    ...(until !== undefined ? { until: timeArg(until, "until") } : {}),
  };
  if (entity !== undefined) {
    if (!(ENTITIES as readonly string[]).includes(entity) || id === undefined) throw new UsageError("give an entity and its id (registry history instance ID), or --since");
    Object.assign(req, { entity, id });
  } else if (since === undefined) throw new UsageError("give an entity and its id (registry history instance ID), or --since 1h for every change since then");
  const limit = int(p, "limit");
  const client = await ctx.client();
  const events: HistoryEntry[] = [];
  let next: number | undefined;
  for (let after = int(p, "after"); ; ) {
    const page = await client.history({ ...req, ...(limit !== undefined ? { limit } : {}), ...(after !== undefined ? { after } : {}) });
    events.push(...page.events);
    next = page.next;
    if (next === undefined || limit !== undefined) break;
    after = next;
  }
  ctx.print({ events, ...(limit !== undefined && next !== undefined ? { next } : {}) }, () =>
    table(
      ["SEQ", "TIME", "TYPE", "ENTITY", "CHANGE", "BY"],
      events.map((e) => [String(e.seq), e.at, e.type, `${e.entity} ${e.id}`, change(e), e.by ? `${e.by.account}${e.by.user ? `/${e.by.user}` : ""}` : "registry"]),
    ),
  );
}
