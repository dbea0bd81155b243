/** `registry services`: the slugs that have instances, each with its instances counted by status. */
import type { Command } from "commander";
import type { ServiceSummary } from "../contract/api.ts";
import type { Cli } from "./context.ts";
import { table } from "./format.ts";

/** Statuses that take traffic first, then the rest; a status no instance has is left out of its row. */
const ORDER: (keyof ServiceSummary["byStatus"])[] = ["Healthy", "Degraded", "Starting", "Unknown", "Unhealthy", "Unreachable", "Stopping"];

export const serviceRows = (services: ServiceSummary[]) =>
  table(
    ["SLUG", "INSTANCES", "HEALTHY", "BY STATUS"],
    services.map((s) => [
      s.slug,
      String(s.instances),
      // The share that takes traffic (Healthy or Degraded), as pick() and DNS see it.
      `${Math.round((100 * (s.byStatus.Healthy + s.byStatus.Degraded)) / Math.max(1, s.instances))}%`,
      ORDER.filter((status) => s.byStatus[status] > 0)
        .map((status) => `${s.byStatus[status]} ${status}`)
        .join(", "),
    ]),
  );

export function servicesCommand(program: Command, cli: Cli): void {
  const services = program.command("services").aliases(["service", "svc"]).description("the services (slugs) that have instances, with their instances counted by status");
  services
    .command("list", { isDefault: true })
    .alias("ls")
    .description("every slug with instances, in slug order, and how many of its instances are in each status")
    .action(
      cli.action(async (ctx) => {
        const list = await (await ctx.client()).listServices();
        ctx.printList({ services: list }, list, () => serviceRows(list), "no service has instances yet: registry i register --url <url> --slug <slug> registers one");
      }),
    );
}
