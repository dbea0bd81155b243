import { pino, type Logger } from "pino";
import { PinoPretty } from "pino-pretty";

export type LogFormat = "json" | "pretty";

/**
 * pino, one event per line on stdout: JSON for machines (a pipe, a file, a log shipper), or
 * pino-pretty's readable lines for a person at a terminal. Pretty writes synchronously, in
 * this thread, so nothing is lost when the process exits.
 */
export function createLogger(level: string, opts: { name?: string; format?: LogFormat | undefined } = {}): Logger {
  const format = opts.format ?? (process.stdout.isTTY ? "pretty" : "json");
  const options = { name: opts.name ?? "registry", level };
  if (format === "json") return pino(options);
  return pino(options, PinoPretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "hostname" }));
}
