/**
 * The instances read model holds every instance in memory, so what each one takes there is
 * the registry's memory per instance. Values parsed from JSON get strings of their own: an
 * instance kept as parsed repeats its slug, status, cause, scheme, deployment, node and tags
 * (the same few values across thousands of instances) and usually three equal timestamps.
 * Compacting shares them: values that repeat across instances come from one pool, equal
 * timestamps of one instance are one string, and equal tag lists are one frozen array.
 */
import type { Instance } from "../contract/schemas.ts";

/** A pool bigger than this is a sign the values do not repeat: it starts over, rather than grow. */
const POOL_LIMIT = 50_000;

export type Interner = (s: string) => string;

/** Returns one shared string for equal strings (and one shared frozen array for equal tag lists). */
export function interner(): { string: Interner; tags: (tags: string[]) => string[] } {
  let strings = new Map<string, string>();
  let tagLists = new Map<string, string[]>();
  const string = (s: string) => {
    const known = strings.get(s);
    if (known !== undefined) return known;
    if (strings.size >= POOL_LIMIT) strings = new Map();
    strings.set(s, s);
    return s;
  };
  const tags = (list: string[]) => {
    const key = list.join("\u0000");
    const known = tagLists.get(key);
    if (known !== undefined) return known;
    if (tagLists.size >= POOL_LIMIT) tagLists = new Map();
    const shared = Object.freeze(list.map(string)) as string[];
    tagLists.set(key, shared);
    return shared;
  };
  return { string, tags };
}

/** Makes a freshly parsed instance share what repeats (see above); it must not be changed afterwards. */
export function compactInstance(i: Instance, pool: ReturnType<typeof interner>): Instance {
  const { string } = pool;
  const same = (t: string) => (t === i.createdAt ? i.createdAt : t);
  i.tags = pool.tags(i.tags);
  i.status = string(i.status) as Instance["status"];
  i.updatedAt = same(i.updatedAt);
  if (i.lastHeartbeat !== undefined) i.lastHeartbeat = same(i.lastHeartbeat);
  if (i.slug !== undefined) i.slug = string(i.slug);
  if (i.scheme !== undefined) i.scheme = string(i.scheme);
  if (i.statusCause !== undefined) i.statusCause = string(i.statusCause) as Instance["statusCause"];
  if (i.deploymentId !== undefined) i.deploymentId = string(i.deploymentId);
  if (i.nodeUrl !== undefined) i.nodeUrl = string(i.nodeUrl);
  return i;
}
