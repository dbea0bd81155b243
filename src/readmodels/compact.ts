/**
 * The instances read model holds every instance in memory, so what each one takes there is
 * the registry's memory per instance. Values parsed from JSON get strings of their own: an
 * instance kept as parsed repeats its slug, status, cause, scheme, deployment, node and tags
 * (the same few values across thousands of instances) and usually three equal timestamps.
 * Compacting shares them: values that repeat across instances come from one pool, equal
 * timestamps of one instance are one string, and equal tag lists are one frozen array.
 * Timestamps repeat across instances too where one decision changed many (a node offline, a
 * burst of registrations: seven an ms at a million): the recent ones are shared as well.
 */
import type { Instance } from "../contract/schemas.ts";

/** A pool bigger than this is a sign the values do not repeat: it starts over, rather than grow. */
const POOL_LIMIT = 50_000;
/** Timestamps remembered: entries arrive about in the order they were written, so equal times arrive close together. */
const RECENT_TIMES = 4096;

export type Interner = (s: string) => string;

/** One shared string for equal strings, from a pool that starts over once it holds `limit`. */
function stringPool(limit: number): Interner {
  let strings = new Map<string, string>();
  return (s) => {
    const known = strings.get(s);
    if (known !== undefined) return known;
    if (strings.size >= limit) strings = new Map();
    strings.set(s, s);
    return s;
  };
}

/** Returns one shared string for equal strings (and one shared frozen array for equal tag lists). */
export function interner(): { string: Interner; time: Interner; tags: (tags: string[]) => string[] } {
  const string = stringPool(POOL_LIMIT);
  const time = stringPool(RECENT_TIMES);
  let tagLists = new Map<string, string[]>();
  const tags = (list: string[]) => {
    const key = list.join("\u0000");
    const known = tagLists.get(key);
    if (known !== undefined) return known;
    if (tagLists.size >= POOL_LIMIT) tagLists = new Map();
    const shared = Object.freeze(list.map(string)) as string[];
    tagLists.set(key, shared);
    return shared;
  };
  return { string, time, tags };
}

/** Makes a freshly parsed instance share what repeats (see above); it must not be changed afterwards. */
export function compactInstance(i: Instance, pool: ReturnType<typeof interner>): Instance {
  const { string } = pool;
  i.createdAt = pool.time(i.createdAt);
  const same = (t: string) => (t === i.createdAt ? i.createdAt : pool.time(t));
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
