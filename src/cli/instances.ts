import { int, list, parseArgs, str, UsageError, type Parsed } from "./args.ts";
import type { CliContext } from "./context.ts";
import { asOfArg } from "./history.ts";
import { ago, table } from "./format.ts";
import type { HealthCheck, Instance, InstanceStatus, ListInstancesRequest, RegisterInstanceRequest } from "../contract/schemas.ts";

export const INSTANCES_HELP = `registry instances|instance|i <verb>

  register --url URL | --host HOST|--ip IP [--scheme S] [--port N] [--path P]
           [--id ID] [--slug SLUG] [--deployment-id ID] [--node-url URL]
           [--tag T]... | [--tags '["a","b"]'] [--status S] [--details TEXT]
           [--ttl SECONDS] [--grace SECONDS]
           [--check http|tcp] [--check-path P] [--check-interval-ms N] [--check-timeout-ms N]
  list | ls [--id ID] [--slug SLUG] [--host H] [--ip IP] [--scheme S] [--path P]
            [--deployment-id ID] [--node-url URL] [--status S] [--tag T]... [--healthy [true|false]]
            [--limit N [--after ID]]   one page, in id order (all pages without --limit)
            [--as-of TIME|1h|SEQ]       as it was then (folded from the events)
  get ID
  status ID STATUS [--details TEXT]   set an instance's status (Starting, Stopping...)
  remove | rm ID

Options: --json (the JSON the NATS API returns), --help
`;

const REGISTER_FLAGS = {
  values: ["url", "id", "scheme", "host", "ip", "port", "path", "slug", "deployment-id", "node-url", "tags", "status", "details", "ttl", "grace", "check", "check-path", "check-interval-ms", "check-timeout-ms"],
  repeatable: ["tag"],
};
const LIST_FLAGS = { values: ["id", "slug", "host", "ip", "scheme", "path", "deployment-id", "node-url", "status", "limit", "after", "as-of"], repeatable: ["tag"], boolean: ["healthy"] };

/** Only the fields given, so that the registry's own defaults apply to the rest. */
function defined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as T;
}

function tagsOf(p: Parsed): string[] | undefined {
  const tags = [...list(p, "tag")];
  const json = str(p, "tags");
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new UsageError(`--tags must be a JSON list such as '["dev","blue"]', not ${json}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((t) => typeof t === "string")) throw new UsageError(`--tags must be a JSON list of strings`);
    tags.push(...parsed);
  }
  return tags.length > 0 ? tags : undefined;
}

function checkOf(p: Parsed): HealthCheck | undefined {
  const type = str(p, "check");
  if (type === undefined) return undefined;
  if (type !== "http" && type !== "tcp") throw new UsageError(`--check must be http or tcp, not ${type}`);
  return defined<HealthCheck>({ type, path: str(p, "check-path"), intervalMs: int(p, "check-interval-ms"), timeoutMs: int(p, "check-timeout-ms") });
}

/** The flags that register and list share, as the request fields they are. */
const sharedFields = (p: Parsed) => ({
  id: str(p, "id"),
  slug: str(p, "slug"),
  host: str(p, "host"),
  ip: str(p, "ip"),
  scheme: str(p, "scheme"),
  path: str(p, "path"),
  deploymentId: str(p, "deployment-id"),
  nodeUrl: str(p, "node-url"),
  status: str(p, "status") as InstanceStatus | undefined,
});

export const instanceRows = (instances: Instance[]) =>
  table(
    ["INSTANCE ID", "URL", "STATUS", "OWNER SLUG", "LAST HEARTBEAT"],
    // Without a lease nothing renews an instance, so the time since registration would only look stale.
    instances.map((i) => [i.id, i.url, i.status, i.slug ?? "", i.ttlSeconds === undefined ? "no lease" : ago(i.lastHeartbeat)]),
  );

export async function instancesCommand(argv: string[], ctx: CliContext): Promise<void> {
  const verb = argv.find((a) => !a.startsWith("-"));
  const rest = argv.filter((a) => a !== verb);
  if (!verb) return void ctx.out.write(INSTANCES_HELP);
  switch (verb) {
    case "register": {
      const p = parseArgs(rest, REGISTER_FLAGS);
      if (p.flags.help) return void ctx.out.write(INSTANCES_HELP);
      const request: RegisterInstanceRequest = defined({
        ...sharedFields(p),
        url: str(p, "url"),
        port: int(p, "port"),
        tags: tagsOf(p),
        details: str(p, "details"),
        ttlSeconds: int(p, "ttl"),
        graceSeconds: int(p, "grace"),
        check: checkOf(p),
      });
      const instance = await (await ctx.client()).registerInstance(request);
      return ctx.print({ instance }, () => `registered instance ${instance.id} at ${instance.url}\n`);
    }
    case "list":
    case "ls": {
      const p = parseArgs(rest, LIST_FLAGS);
      if (p.flags.help) return void ctx.out.write(INSTANCES_HELP);
      const [stray] = p.positionals;
      if (stray !== undefined) throw new UsageError(`unexpected argument "${stray}"; to list one service's instances: registry i ls --slug ${stray}`);
      const filter: ListInstancesRequest = defined({
        ...sharedFields(p),
        tags: list(p, "tag").length ? list(p, "tag") : undefined,
        healthy: typeof p.flags.healthy === "boolean" ? p.flags.healthy : undefined,
        limit: int(p, "limit"),
        after: str(p, "after"),
        asOf: asOfArg(str(p, "as-of")),
      });
      const client = await ctx.client();
      if (filter.limit !== undefined) {
        const page = await client.listInstancePage(filter);
        return ctx.print(page, () => instanceRows(page.instances) + (page.next ? `more after ${page.next}: --after ${page.next}\n` : ""));
      }
      const instances = await client.listInstances(filter);
      return ctx.print({ instances }, () => instanceRows(instances));
    }
    case "get":
    case "status":
    case "remove":
    case "rm": {
      const p = parseArgs(rest, { values: ["details"] });
      if (p.flags.help) return void ctx.out.write(INSTANCES_HELP);
      const [id, status] = p.positionals;
      if (!id) throw new UsageError(`instances ${verb} needs an ID; see registry instances --help`);
      const client = await ctx.client();
      if (verb === "get") {
        const instance = await client.getInstance(id);
        return ctx.print({ instance }, () => `${JSON.stringify(instance, null, 2)}\n`);
      }
      if (verb === "status") {
        if (!status) throw new UsageError("instances status needs an ID and a STATUS (Starting, Stopping, Healthy...)");
        const instance = await client.reportStatus(id, status as InstanceStatus, str(p, "details"), "operator");
        return ctx.print({ instance }, () => `instance ${id} is ${instance.status}\n`);
      }
      await client.removeInstance(id);
      return ctx.print({}, () => `removed instance ${id}\n`);
    }
    default:
      throw new UsageError(`unknown verb "${verb}" for instances; see registry instances --help`);
  }
}
