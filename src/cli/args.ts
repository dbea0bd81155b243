/**
 * Command-line arguments: positionals, `--flag value`, `--flag=value`, boolean flags and
 * repeatable flags. What a command accepts is declared, so a misspelt flag is an error.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export type FlagSpec = { boolean?: string[]; repeatable?: string[]; values?: string[] };
export type Parsed = { positionals: string[]; flags: Record<string, string | boolean | string[]> };

export function parseArgs(argv: string[], spec: FlagSpec): Parsed {
  const known = new Set([...(spec.boolean ?? []), ...(spec.repeatable ?? []), ...(spec.values ?? []), "json", "help"]);
  const booleans = new Set([...(spec.boolean ?? []), "json", "help"]);
  const repeatable = new Set(spec.repeatable ?? []);
  const parsed: Parsed = { positionals: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      parsed.flags.help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      parsed.positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!known.has(name)) throw new UsageError(`unknown option --${name}; see --help`);
    if (booleans.has(name)) {
      // --flag, --flag=false, and --flag false / --flag true (the word after it, when it is one of those).
      const word = inline ?? (argv[i + 1] === "true" || argv[i + 1] === "false" ? argv[++i] : undefined);
      if (word !== undefined && word !== "true" && word !== "false") throw new UsageError(`--${name} is true or false, not "${word}"`);
      parsed.flags[name] = word !== "false";
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (repeatable.has(name)) parsed.flags[name] = [...((parsed.flags[name] as string[] | undefined) ?? []), value];
    else parsed.flags[name] = value;
  }
  return parsed;
}

export const str = (p: Parsed, name: string) => p.flags[name] as string | undefined;
export const list = (p: Parsed, name: string) => (p.flags[name] as string[] | undefined) ?? [];

export function int(p: Parsed, name: string): number | undefined {
  const raw = str(p, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, not "${raw}"`);
  return n;
}

const UNITS: Record<string, number> = {
  "": 1, B: 1, K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9, T: 1e12, TB: 1e12,
  KI: 2 ** 10, KIB: 2 ** 10, MI: 2 ** 20, MIB: 2 ** 20, GI: 2 ** 30, GIB: 2 ** 30, TI: 2 ** 40, TIB: 2 ** 40,
};

/** A size in bytes, in plain bytes or with a unit: 1G and 1GB are 10^9, 512Mi and 512MiB are 512 x 2^20. */
export function bytes(p: Parsed, name: string): number | undefined {
  const raw = str(p, name);
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(raw.trim());
  const unit = UNITS[(m?.[2] ?? "").toUpperCase()];
  if (!m || unit === undefined) throw new UsageError(`--${name} must be a size such as 1073741824, 1G, 512Mi or 2GiB, not "${raw}"`);
  return Math.round(Number(m[1]) * unit);
}

/** A percentage, with or without its %: 80 and 80% are the same. */
export function percent(p: Parsed, name: string): number | undefined {
  const raw = str(p, name);
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(raw.trim());
  if (!m) throw new UsageError(`--${name} must be a percentage such as 80 or 80%, not "${raw}"`);
  return Number(m[1]);
}
