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
