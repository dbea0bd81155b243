/**
 * Which slugs a registry process holds (REGISTRY_SLUGS): every slug, or those listed, each
 * entry a slug or a prefix ending in `*` (`pay*`: every slug that starts with "pay").
 */
import { SLUG_PATTERN } from "../contract/ids.ts";

export type SlugScope = {
  /** Whether this process holds every slug. */
  all: boolean;
  /** The entries as given (empty when it holds all). */
  entries: readonly string[];
  holds(slug: string | undefined): boolean;
  /** The one slug it holds, when it holds exactly one (the server can then filter the bucket for it). */
  single: string | undefined;
  /** For messages: `every slug`, or the entries. */
  describe(): string;
};

const slugPattern = new RegExp(SLUG_PATTERN);

/** What is wrong with REGISTRY_SLUGS' entries, if anything. */
export function slugScopeProblem(entries: readonly string[]): string | undefined {
  for (const entry of entries) {
    const slug = entry.endsWith("*") ? entry.slice(0, -1) : entry;
    if (slug === "" && entry === "*") continue;
    if (!slugPattern.test(slug)) return `"${entry}" is neither a slug nor a slug prefix ending in * (slugs: letters, digits, - and _)`;
  }
  return undefined;
}

export function slugScope(entries: readonly string[] = []): SlugScope {
  const all = entries.length === 0 || entries.includes("*");
  const exact = new Set(entries.filter((e) => !e.endsWith("*")));
  const prefixes = entries.filter((e) => e.endsWith("*")).map((e) => e.slice(0, -1));
  return {
    all,
    entries: all ? [] : entries,
    // An instance without a slug belongs to no service: only a process that holds every slug holds it.
    holds: (slug) => all || (slug !== undefined && (exact.has(slug) || prefixes.some((p) => slug.startsWith(p)))),
    single: !all && prefixes.length === 0 && exact.size === 1 ? [...exact][0] : undefined,
    describe: () => (all ? "every slug" : entries.join(", ")),
  };
}
