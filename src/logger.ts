import { pino, type Logger } from "pino";

/** pino JSON to stdout, one line per event worth knowing. */
export function createLogger(level: string, name = "registry"): Logger {
  return pino({ name, level });
}
