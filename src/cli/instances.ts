import { Argument, Option, type Command } from "commander";
import { bool, count, defined, jsonList, keyValue, repeated, sequenceOrTime, UsageError } from "./args.ts";
import type { Cli } from "./context.ts";
import { ago, table } from "./format.ts";
import { INSTANCE_STATUSES, type HealthCheck, type Instance, type InstanceStatus, type ListInstancesRequest, type RegisterInstanceRequest } from "../contract/schemas.ts";

const STATUSES = [...INSTANCE_STATUSES];

/** The options register and list share: the request fields they are. */
type Shared = { id?: string; slug?: string; host?: string; ip?: string; scheme?: string; path?: string; deploymentId?: string; nodeUrl?: string; status?: InstanceStatus; tag?: string[]; meta?: Record<string, string> };
type RegisterOptions = Shared & { url?: string; port?: number; details?: string; ttl?: number; grace?: number; check?: "http" | "tcp"; checkPath?: string; checkIntervalMs?: number; checkTimeoutMs?: number };
type ListOptions = Shared & { healthy?: boolean; limit?: number; after?: string; asOf?: string | number };

function sharedOptions(command: Command, what: "give" | "match"): Command {
  const verb = what === "give" ? "" : "only ";
  return command
    .option("--id <id>", what === "give" ? "the instance's id (default: derived from the URL)" : "only this instance")
    .option("--slug <slug>", `${verb}the owning service's slug`)
    .option("--host <host>", `${verb}host name`)
    .option("--ip <ip>", `${verb}IP address`)
    .option("--scheme <scheme>", `${verb}scheme (http, https, grpc...)`)
    .option("--path <path>", `${verb}URL path`)
    .option("--deployment-id <id>", `${verb}deployment id`)
    .option("--node-url <url>", `${verb}the URL of the node it runs on`)
    .addOption(new Option("--status <status>", what === "give" ? "its status" : "only instances with this status").choices(STATUSES))
    .option("--tag <tag>", what === "give" ? "a tag (repeat for more)" : "only instances holding this tag (repeat: all of them)", repeated)
    .option("--meta <key=value>", what === "give" ? "a metadata pair, e.g. version=2 (repeat for more; replaces its metadata)" : "only instances holding this metadata pair (repeat: all of them)", keyValue);
}

const sharedFields = (o: Shared) => ({ id: o.id, slug: o.slug, host: o.host, ip: o.ip, scheme: o.scheme, path: o.path, deploymentId: o.deploymentId, nodeUrl: o.nodeUrl, status: o.status, metadata: o.meta });

function checkOf(o: RegisterOptions): HealthCheck | undefined {
  if (o.check === undefined) return undefined;
  return defined<HealthCheck>({ type: o.check, path: o.checkPath, intervalMs: o.checkIntervalMs, timeoutMs: o.checkTimeoutMs });
}

const NO_INSTANCE_MATCHES = "no instance matches these filters";

export const instanceRows = (instances: Instance[]) =>
  table(
    ["INSTANCE ID", "URL", "STATUS", "OWNER SLUG", "TAGS", "LAST HEARTBEAT"],
    // Without a lease nothing renews an instance, so the time since registration would only look stale.
    instances.map((i) => [i.id, i.url, i.status, i.slug ?? "", i.tags.join(","), i.ttlSeconds === undefined ? "no lease" : ago(i.lastHeartbeat)]),
  );

/** One instance as `field  value` lines, as `n get` shows a node: the fields it has, in a reading order. */
export function instanceDetail(i: Instance): string {
  const lines: [string, string | undefined][] = [
    ["id", i.id],
    ["url", i.url],
    ["status", `${i.status} (${i.statusCause ?? "registered"})`],
    ["details", i.details],
    ["slug", i.slug],
    ["tags", i.tags.length ? i.tags.join(", ") : undefined],
    ["metadata", i.metadata && Object.keys(i.metadata).length ? Object.entries(i.metadata).map(([k, v]) => `${k}=${v}`).join(", ") : undefined],
    ["node", i.nodeUrl],
    ["deployment", i.deploymentId],
    ["lease", i.ttlSeconds === undefined ? undefined : `${i.ttlSeconds} s, grace ${i.graceSeconds ?? 2 * i.ttlSeconds} s; renewal recorded ${ago(i.lastHeartbeat)}`],
    ["check", i.check ? `${i.check.type}${i.check.path ? ` ${i.check.path}` : ""} ${i.check.intervalMs !== undefined ? `every ${i.check.intervalMs} ms` : "at the default interval"}` : undefined],
    ["created", i.createdAt],
    ["updated", i.updatedAt],
  ];
  return table(["FIELD", "VALUE"], lines.filter((l): l is [string, string] => l[1] !== undefined));
}

export function instancesCommand(program: Command, cli: Cli): void {
  const instances = program.command("instances").aliases(["instance", "i"]).description("callable addresses: register, list, get, status, renew, remove");

  // --url first: it is what most registrations give.
  sharedOptions(instances.command("register").description("register an instance, or update the one at its URL").option("--url <url>", "its address (or --host/--ip with --scheme, --port, --path)"), "give")
    .option("--port <port>", "port, with --host or --ip", count)
    .option("--tags <json>", `tags as a JSON list, e.g. '["dev","blue"]'`, jsonList)
    .option("--details <text>", "what its status means now")
    .option("--ttl <seconds>", "a lease: it expires unless renewed (registry instances renew) within this many seconds", count)
    .option("--grace <seconds>", "after its lease lapses, deregistered this much later (default twice --ttl)", count)
    .addOption(new Option("--check <type>", "a check the node agent runs against it").choices(["http", "tcp"]))
    .option("--check-path <path>", "the HTTP check's path")
    .option("--check-interval-ms <ms>", "how often the check runs", count)
    .option("--check-timeout-ms <ms>", "how long one check may take", count)
    .action(
      cli.action<RegisterOptions & { tags?: string[] }>(async (ctx, _, o) => {
        const tags = [...(o.tag ?? []), ...(o.tags ?? [])];
        const request: RegisterInstanceRequest = defined({
          ...sharedFields(o),
          url: o.url,
          port: o.port,
          tags: tags.length > 0 ? tags : undefined,
          details: o.details,
          ttlSeconds: o.ttl,
          graceSeconds: o.grace,
          check: checkOf(o),
        });
        const reply = await (await ctx.client()).registration(request);
        const { instance, movedFrom } = reply;
        ctx.print(reply, () =>
          movedFrom
            ? `moved instance ${instance.id} at ${instance.url} from service ${movedFrom.slug} to ${instance.slug ?? "no service"} (one URL is one instance)\n`
            : reply.outcome === "updated"
              ? `updated instance ${instance.id} at ${instance.url}: ${(reply.changed ?? []).join(", ")} changed (what a registration does not give is kept)\n`
              : reply.outcome === "unchanged"
                ? `instance ${instance.id} at ${instance.url} is registered as given already: nothing changed\n`
                : `registered instance ${instance.id} at ${instance.url}\n`,
        );
      }),
    );

  sharedOptions(instances.command("list").alias("ls").description("list instances in id order (every page unless --limit)"), "match")
    .option("--healthy [true|false]", "only Healthy ones, or with false only the others", bool)
    .option("--limit <n>", "one page of at most n", count)
    .option("--after <id>", "the page after this id (with --limit)")
    .option("--as-of <time|1h|seq>", "as they were then (folded from the events)", sequenceOrTime)
    .allowExcessArguments()
    .action(
      cli.action<ListOptions>(async (ctx, args, o) => {
        const [stray] = args;
        if (stray !== undefined) throw new UsageError(`unexpected argument "${stray}"; to list one service's instances: registry i ls --slug ${stray}`);
        const filter: ListInstancesRequest = defined({ ...sharedFields(o), tags: o.tag, healthy: o.healthy, limit: o.limit, after: o.after, asOf: o.asOf });
        const client = await ctx.client();
        if (filter.limit !== undefined) {
          const page = await client.listInstancePage(filter);
          return ctx.printList(page, page.instances, () => instanceRows(page.instances) + (page.next ? `more after ${page.next}: --after ${page.next}\n` : ""), NO_INSTANCE_MATCHES);
        }
        const instances = await client.listInstances(filter);
        const filtered = Object.keys(filter).length > 0;
        ctx.printList({ instances }, instances, () => instanceRows(instances), filtered ? NO_INSTANCE_MATCHES : "no instances yet: registry i register --url <url> --slug <slug> registers one");
      }),
    );

  instances
    .command("get")
    .description("show one instance")
    .argument("<id>")
    .action(
      cli.action(async (ctx, [id]) => {
        const instance = await (await ctx.client()).getInstance(id!);
        ctx.print({ instance }, () => instanceDetail(instance));
      }),
    );

  instances
    .command("status")
    .description("set an instance's status as its operator (Starting, Stopping, Healthy...)")
    .argument("<id>")
    .addArgument(new Argument("<status>").choices(STATUSES))
    .option("--details <text>", "what the status means now")
    .action(
      cli.action<{ details?: string }>(async (ctx, [id, status], { details }) => {
        const instance = await (await ctx.client()).reportStatus(id!, status as InstanceStatus, details, "operator");
        ctx.print({ instance }, () => `instance ${id} is ${instance.status}\n`);
      }),
    );

  instances
    .command("renew")
    .description("renew an instance's lease (what a service does every few seconds; registered with --ttl)")
    .argument("<id>")
    .action(
      cli.action(async (ctx, [id]) => {
        const instance = await (await ctx.client()).renewLease(id!);
        ctx.print({ instance }, () => `renewed the lease of instance ${id} (${instance.ttlSeconds ?? 0} s from now); it is ${instance.status}\n`);
      }),
    );

  instances
    .command("remove")
    .alias("rm")
    .description("remove an instance")
    .argument("<id>")
    .action(
      cli.action(async (ctx, [id]) => {
        await (await ctx.client()).removeInstance(id!);
        ctx.print({}, () => `removed instance ${id}\n`);
      }),
    );
}
