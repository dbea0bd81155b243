/**
 * The key rule: how ids become NATS subject tokens and KV keys.
 *
 * An id is 1 to 128 characters of ASCII letters, digits, `-` and `_`. Such an id is a
 * valid subject token and a valid KV key token as it is, so it is used unchanged: the
 * event subject of instance `inst_1` is `registry.events.instance.inst_1`. Anything the
 * rule cannot carry (empty, spaces, `.`, `*`, `>`, other characters) is refused with 400.
 *
 * Instance keys in `registry_instances` are `<slug>.<id>`, or `_.<id>` when the instance
 * has no slug; `_` is therefore not a valid slug.
 */
import { createHash } from "node:crypto";

export const ID_PATTERN = "^[A-Za-z0-9_-]{1,128}$";
const idRegex = new RegExp(ID_PATTERN);
export const SLUG_PATTERN = "^(?!_$)[A-Za-z0-9_-]{1,128}$";

/** What the key rule means, in words, for error messages. */
export const PATTERN_MEANING: Record<string, string> = {
  [ID_PATTERN]: "must be 1 to 128 characters of letters, digits, - and _ (no dots, spaces or wildcards)",
  [SLUG_PATTERN]: "must be 1 to 128 characters of letters, digits, - and _, and not _ alone",
};

export const NO_SLUG_TOKEN = "_";

/** Ids the registry derives for registrations without one start with this (`inst_` and 20 hex digits). */
export const DERIVED_ID_PREFIX = "inst_";

export function isValidId(id: string): boolean {
  return idRegex.test(id);
}

export function instanceKey(slug: string | undefined, id: string): string {
  return `${slug ?? NO_SLUG_TOKEN}.${id}`;
}

/** Whether `key` is instanceKey(slug, id) of an instance whose id it is known to end in: checked without building the key (once per entry read). */
export function isInstanceKeyOf(i: { slug?: string | undefined; id: string }, key: string): boolean {
  const slug = i.slug ?? NO_SLUG_TOKEN;
  return key.length === slug.length + 1 + i.id.length && key.startsWith(slug) && key.charCodeAt(slug.length) === 46 /* . */;
}

/** The slug an instance key (`<slug>.<id>`) names; undefined for an instance without one. */
export function slugOfInstanceKey(key: string): string | undefined {
  const slug = key.slice(0, key.indexOf("."));
  return slug === NO_SLUG_TOKEN ? undefined : slug;
}

/**
 * The token that stands for a node URL in the per-node index (`registry_node_instances`, keys
 * `<node key>.<id>`): the first 32 hex digits of its SHA-256. A URL is no key token as it is
 * (dots, colons, slashes) and may be long; its hash is short and fixed. An agent's permission
 * names it: `printf %s <url> | sha256sum | cut -c1-32`.
 */
export function nodeUrlKey(nodeUrl: string): string {
  return createHash("sha256").update(nodeUrl).digest("hex").slice(0, 32);
}

/** An instance's key in the per-node index. */
export function nodeInstanceKey(nodeUrl: string, id: string): string {
  return `${nodeUrlKey(nodeUrl)}.${id}`;
}

/** Lists are in id order. */
export const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The id part of an instance key (`<slug>.<id>`). */
export function idOfInstanceKey(key: string): string {
  return key.slice(key.indexOf(".") + 1);
}
