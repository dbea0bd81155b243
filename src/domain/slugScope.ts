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

/** What a process that holds every slug says it holds (its service metadata `slugs`). */
export const HOLDS_EVERY_SLUG = "*";

/** Whether a slug pattern (a slug, or a prefix ending in `*`; `*` alone: every slug) names this slug. */
export function slugPatternMatches(pattern: string, slug: string): boolean {
  return pattern.endsWith("*") ? slug.startsWith(pattern.slice(0, -1)) : slug === pattern;
}

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
  const all = entries.length === 0 || entries.includes(HOLDS_EVERY_SLUG);
  return {
    all,
    entries: all ? [] : entries,
    // An instance without a slug belongs to no service: only a process that holds every slug holds it.
    holds: (slug) => all || (slug !== undefined && entries.some((p) => slugPatternMatches(p, slug))),
    single: !all && entries.length === 1 && !entries[0]!.endsWith("*") ? entries[0] : undefined,
    describe: () => (all ? "every slug" : entries.join(", ")),
  };
}
