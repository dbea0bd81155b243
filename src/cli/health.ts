/** `registry health`: the registry's own health (leases, event stream, unreadable values) and expiry protection. */
import { Argument, type Command } from "commander";
import type { ExpiryProtection, HealthStatus } from "../contract/api.ts";
import type { Cli } from "./context.ts";
import { table } from "./format.ts";

const protectionLine = (p: ExpiryProtection) =>
  `expiry protection: ${p.enabled ? "on" : "off"}${p.engaged ? `, ENGAGED since ${p.since ?? "?"}: ${p.reason ?? "too many leases lapsed at once"}; lapsed leases are kept, not expired` : p.enabled ? ", not engaged" : " (lapsed leases always expire)"}\n`;

/** A size in the largest binary unit it fills. */
function size(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function renderHealth(h: HealthStatus): string {
  const share = h.events.maxBytes > 0 ? ` (${Math.round((h.events.bytes / h.events.maxBytes) * 100)}% of ${size(h.events.maxBytes)})` : "";
  return (
    protectionLine(h.protection) +
    table(
      ["WHAT", "NOW"],
      [
        ["leases", `${h.leases.total} (${h.leases.lapsed} lapsed)`],
        ["event stream", `${h.events.messages} events, ${size(h.events.bytes)}${share}; ${size(h.events.reserveBytes)} reserved past it for liveness`],
        ["heartbeats", `folded by the answering process for ${h.heartbeats.nodes} node${h.heartbeats.nodes === 1 ? "" : "s"}; at most ${h.heartbeats.maxNodes} nodes join (REGISTRY_HEARTBEAT_SUBJECTS); ${h.heartbeats.dropped} dropped`],
        [
          "storage changed outside the registry",
          h.storage.lastChange
            ? `${h.storage.changes} times; last ${h.storage.lastChange.at}: ${h.storage.lastChange.stream} ${h.storage.lastChange.missing ? "deleted" : h.storage.lastChange.fields.join(", ")}${h.storage.lastChange.restored ? " (restored)" : " (NOT restored)"}`
            : "never",
        ],
        ["unreadable values skipped", `${h.unreadable.kvEntries} KV entries, ${h.unreadable.events} events, ${h.unreadable.heartbeats} heartbeats`],
      ],
    )
  );
}

export function healthCommand(program: Command, cli: Cli): void {
  const health = program.command("health").description("the registry's health and expiry protection: status (the default), protection on|off");
  health
    .command("status", { isDefault: true })
    .description("leases, the event stream's size, unreadable values skipped, and whether expiry protection is engaged")
    .action(
      cli.action(async (ctx) => {
        const status = await (await ctx.client()).healthStatus();
        ctx.print(status, () => renderHealth(status));
      }),
    );
  health
    .command("protection")
    .description("switch expiry protection: on keeps lapsed leases when too many lapse at once (a network split), off lets them expire")
    .addArgument(new Argument("<on|off>").choices(["on", "off"]))
    .action(
      cli.action(async (ctx, [state]) => {
        const protection = await (await ctx.client()).setExpiryProtection(state === "on");
        ctx.print({ protection }, () => protectionLine(protection));
      }),
    );
}
