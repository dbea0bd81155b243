/**
 * Progress of a long task: on a terminal, one line redrawn in place (a bar, the rate and an
 * ETA); otherwise a log line every few seconds, so that a piped or logged run still shows it.
 */
import type { Logger } from "pino";

const LOG_EVERY_MS = 5000;
const DRAW_EVERY_MS = 100;

export function progressReporter(what: string, unit: string, log: Logger, out: NodeJS.WriteStream = process.stderr) {
  const started = Date.now();
  let last = 0;
  return (done: number, total: number) => {
    const now = Date.now();
    const finished = total > 0 && done >= total;
    if (!finished && now - last < (out.isTTY ? DRAW_EVERY_MS : LOG_EVERY_MS)) return;
    last = now;
    const seconds = Math.max(0.001, (now - started) / 1000);
    const rate = Math.round(done / seconds);
    const share = total > 0 ? Math.min(1, done / total) : 0;
    const eta = rate > 0 && total > done ? Math.ceil((total - done) / rate) : 0;
    if (!out.isTTY) return log.info({ done, total, perSecond: rate, etaSeconds: eta }, `${what}: ${done} of ${total} ${unit}`);
    const width = 30;
    const bar = "#".repeat(Math.round(share * width)).padEnd(width, ".");
    out.write(`\r${what} [${bar}] ${Math.round(share * 100)}%  ${done}/${total} ${unit}  ${rate}/s  ETA ${eta}s ${finished ? "\n" : ""}`);
  };
}
