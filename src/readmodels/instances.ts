/**
 * Instances, indexed for the queries the registry answers: by id (kept sorted, for lists
 * in id order and paging), by owning slug (the first token of the KV key) and by
 * normalized URL (re-registration of a known URL); and the few that the health keepers
 * scan every tick (those with a lease, a check or a node), so that those scans do not walk
 * every instance and hold up the requests behind them.
 */
import type { Entry } from "../contract/names.ts";
import type { Instance, ListInstancesRequest } from "../contract/schemas.ts";
import { NO_SLUG_TOKEN, byId } from "../contract/ids.ts";
import type { ServiceSummary } from "../contract/replies.ts";
import { addressKey } from "../domain/address.ts";
import { takesTraffic } from "../domain/instanceHealth.ts";
import { holdsAll } from "../domain/instance.ts";
import type { KvMirror } from "../nats/kvMirror.ts";
import { takePage } from "./paging.ts";
import { SortedIds } from "./sortedIds.ts";
import { withId, withoutId, type IdGroup } from "./idGroup.ts";


/** Whether an instance passes every filter of a list (and is of a slug the caller may read). */
export function matchesFilter(i: Instance, filter: ListInstancesRequest, onlySlugs?: ReadonlySet<string>): boolean {
  if (onlySlugs && (i.slug === undefined || !onlySlugs.has(i.slug))) return false;
  if (filter.id !== undefined && i.id !== filter.id) return false;
  if (filter.slug !== undefined && i.slug !== filter.slug) return false;
  if (filter.host !== undefined && i.host !== filter.host) return false;
  if (filter.ip !== undefined && i.ip !== filter.ip) return false;
  if (filter.scheme !== undefined && i.scheme !== filter.scheme) return false;
  if (filter.path !== undefined && i.path !== filter.path) return false;
  if (filter.deploymentId !== undefined && i.deploymentId !== filter.deploymentId) return false;
  if (filter.nodeUrl !== undefined && i.nodeUrl !== filter.nodeUrl) return false;
  if (filter.status !== undefined && i.status !== filter.status) return false;
  if (filter.healthy !== undefined && takesTraffic(i.status) !== filter.healthy) return false;
  return holdsAll(i, filter);
}

/** A service as the list of services shows it: its instances counted, in all and by status. */
export function serviceSummary(slug: string, instances: Iterable<Instance>): ServiceSummary {
  const byStatus: ServiceSummary["byStatus"] = { Unknown: 0, Starting: 0, Healthy: 0, Degraded: 0, Unhealthy: 0, Unreachable: 0, Stopping: 0 };
  let count = 0;
  for (const i of instances) {
    count++;
    byStatus[i.status]++;
  }
  return { slug, instances: count, byStatus };
}

/** The services of a list of instances (as they were, for time travel), in slug order, past `after`, of `onlySlugs` when given. */
export function servicesOf(instances: Iterable<Instance>, after?: string, onlySlugs?: ReadonlySet<string>): ServiceSummary[] {
  const bySlug = new Map<string, Instance[]>();
  for (const i of instances) {
    if (i.slug === undefined || (after !== undefined && i.slug <= after) || (onlySlugs && !onlySlugs.has(i.slug))) continue;
    let list = bySlug.get(i.slug);
    if (!list) bySlug.set(i.slug, (list = []));
    list.push(i);
  }
  return [...bySlug.keys()].sort().map((slug) => serviceSummary(slug, bySlug.get(slug)!));
}

export type InstancePage = { instances: Instance[]; next?: string; versions?: Record<string, number> };

/** What an id and its version take in a reply's `versions`. */
const VERSION_BYTES = 48;

export class InstancesView {
  /** The ids of each slug's instances (the mirror is by id: see readModels). */
  readonly #idsOfSlug = new Map<string, IdGroup>();
  /** The slugs under each lower-case spelling: DNS names are case-insensitive, slugs are not. */
  readonly #slugsOfLower = new Map<string, Set<string>>();
  /**
   * The instances whose id is not the one derived from their URL, by address key: one derived from
   * its URL is found by deriving it again, which a map of a million URLs (49 MiB, measured) need not hold.
   */
  readonly #idOfUrl = new Map<string, string>();
  /**
   * The URL index is built after a read model's first load, not during it (a million URLs are a
   * second and a half of a cold start): `indexUrls()` builds it a slice at a time, and a lookup
   * before it is done finishes it at once.
   */
  #urlsIndexed: "no" | "building" | "yes" = "no";
  readonly #sortedIds = new SortedIds();
  /** Ids of the instances with a lease, a health check, a node URL. */
  readonly #leased = new Set<string>();
  readonly #checked = new Set<string>();
  readonly #onNodes = new Set<string>();

  /** `derivedIdOf`: the id a registration without one gives a URL (registryCommands.ts). */
  constructor(
    private readonly mirror: KvMirror<Instance>,
    private readonly derivedIdOf: (url: string) => string,
  ) {
    mirror.onChange((_key, value, previous) => {
      // An update keeps its id: its place in the sorted ids stays.
      const sameId = previous !== null && value !== null;
      if (previous) this.#unindex(previous, sameId);
      if (value) this.#index(value, sameId);
    });
  }

  sync(): Promise<void> {
    return this.mirror.sync();
  }

  get(id: string): Instance | undefined {
    return this.mirror.valueOfId(id);
  }

  /** The instance with the KV revision and event version its entry reflects. */
  entry(id: string): Entry<Instance> | undefined {
    return this.mirror.entryOfId(id);
  }

  all(): Iterable<Instance> {
    return this.mirror.values();
  }

  /** The instances with a lease (`ttlSeconds`). */
  leased(): Iterable<Instance> {
    return this.#ofIds(this.#leased);
  }

  /** The instances with a health check. */
  checked(): Iterable<Instance> {
    return this.#ofIds(this.#checked);
  }

  /** The instances that name the node they run on. */
  onNodes(): Iterable<Instance> {
    return this.#ofIds(this.#onNodes);
  }

  *#ofIds(ids: Iterable<string>): Iterable<Instance> {
    for (const id of ids) {
      const i = this.get(id);
      if (i) yield i;
    }
  }

  /** The instance that holds `url` (any spelling of its address). */
  idOfUrl(url: string): string | undefined {
    const key = addressKey(url);
    // Derived from the address key, not the spelling: for schemes the URL parser leaves opaque (grpc://h:1 and grpc://h:1/), spellings of one address derive apart.
    const derived = this.get(this.derivedIdOf(key));
    if (derived && addressKey(derived.url) === key) return derived.id;
    if (this.#urlsIndexed !== "yes") this.#indexUrlsOf(this.mirror.entries(), Infinity);
    return this.#idOfUrl.get(key);
  }

  /** Whether `i` is found by the id its URL derives (and so kept out of the URL index). */
  #foundByUrl(i: Instance): boolean {
    return i.id === this.derivedIdOf(addressKey(i.url));
  }

  /** Builds the URL index a slice at a time, yielding between slices; resolves when it is done. */
  async indexUrls(slice = 20_000): Promise<void> {
    if (this.#urlsIndexed !== "no") return;
    this.#urlsIndexed = "building";
    const entries = this.mirror.entries();
    while (this.#urlsIndexed === "building" && !this.#indexUrlsOf(entries, slice)) await new Promise((r) => setImmediate(r));
  }

  /** Indexes up to `count` more instances of `entries`; true once they are all done. Changes meanwhile are indexed as they come, and win. */
  #indexUrlsOf(entries: Iterator<Entry<Instance>>, count: number): boolean {
    if (this.#urlsIndexed === "no") this.#urlsIndexed = "building";
    for (let n = 0; n < count; n++) {
      const next = entries.next();
      if (next.done) {
        this.#urlsIndexed = "yes";
        return true;
      }
      const i = next.value.value;
      if (this.#foundByUrl(i)) continue;
      const key = addressKey(i.url);
      if (!this.#idOfUrl.has(key)) this.#idOfUrl.set(key, i.id);
    }
    return false;
  }

  /** The instances that pass every filter, in id order: one page after `after` (see paging.ts). */
  list(filter: ListInstancesRequest, budgetBytes = Infinity, onlySlugs?: ReadonlySet<string>): InstancePage {
    const { items, next } = takePage(this.#matching(filter, onlySlugs), filter.limit, budgetBytes, filter.withVersions ? VERSION_BYTES : 0);
    const versions = filter.withVersions ? Object.fromEntries(items.map((i) => [i.id, this.entry(i.id)?.version ?? 0])) : undefined;
    return { instances: items, ...(next !== undefined ? { next } : {}), ...(versions ? { versions } : {}) };
  }

  *#matching(filter: ListInstancesRequest, onlySlugs?: ReadonlySet<string>): Iterable<Instance> {
    for (const i of this.#candidates(filter, onlySlugs)) if (matchesFilter(i, filter, onlySlugs)) yield i;
  }

  /** The instances a filter can match, in id order: one id, the instances of some slugs, or all. */
  *#candidates(filter: ListInstancesRequest, onlySlugs?: ReadonlySet<string>): Iterable<Instance> {
    const after = filter.after;
    if (filter.id !== undefined) {
      const one = this.get(filter.id);
      if (one && (after === undefined || one.id > after)) yield one;
      return;
    }
    const slugs = filter.slug !== undefined ? [filter.slug] : onlySlugs ? [...onlySlugs] : undefined;
    if (slugs) {
      const ofSlugs: Instance[] = [];
      for (const slug of slugs) {
        for (const id of this.#idsOfSlug.get(slug) ?? []) {
          const i = this.get(id);
          if (i && (after === undefined || i.id > after)) ofSlugs.push(i);
        }
      }
      yield* ofSlugs.sort(byId);
      return;
    }
    for (const id of this.#sortedIds.after(after)) {
      const i = this.get(id);
      if (i) yield i;
    }
  }

  /**
   * Each slug with instances after `after` (of `onlySlugs` when given), in slug order, with its
   * instances counted in all and by status. Instances without a slug belong to no service.
   */
  *services(after?: string, onlySlugs?: ReadonlySet<string>): Iterable<ServiceSummary> {
    for (const slug of [...this.#idsOfSlug.keys()].sort()) {
      if (slug === NO_SLUG_TOKEN || (after !== undefined && slug <= after) || (onlySlugs && !onlySlugs.has(slug))) continue;
      const summary = serviceSummary(slug, this.#ofIds(this.#idsOfSlug.get(slug) ?? []));
      if (summary.instances > 0) yield summary;
    }
  }

  /** The instances of every slug spelt `lowerCaseSlug` in any case (empty when none). */
  *ofSlugInAnyCase(lowerCaseSlug: string): Iterable<Instance> {
    for (const slug of this.#slugsOfLower.get(lowerCaseSlug) ?? []) yield* this.#ofIds(this.#idsOfSlug.get(slug) ?? []);
  }

  #index(i: Instance, sorted: boolean): void {
    if (!sorted) this.#sortedIds.add(i.id);
    const slug = i.slug ?? NO_SLUG_TOKEN;
    const ids = this.#idsOfSlug.get(slug);
    if (!ids) {
      const lower = slug.toLowerCase();
      let spellings = this.#slugsOfLower.get(lower);
      if (!spellings) this.#slugsOfLower.set(lower, (spellings = new Set()));
      spellings.add(slug);
    }
    const grown = withId(ids, i.id);
    if (grown !== ids) this.#idsOfSlug.set(slug, grown);
    if (this.#urlsIndexed !== "no" && !this.#foundByUrl(i)) this.#idOfUrl.set(addressKey(i.url), i.id);
    if (i.ttlSeconds !== undefined) this.#leased.add(i.id);
    if (i.check !== undefined) this.#checked.add(i.id);
    if (i.nodeUrl !== undefined) this.#onNodes.add(i.id);
  }

  #unindex(i: Instance, keepSorted: boolean): void {
    if (!keepSorted) this.#sortedIds.delete(i.id);
    const slug = i.slug ?? NO_SLUG_TOKEN;
    const ids = this.#idsOfSlug.get(slug);
    if (ids && withoutId(ids, i.id) === 0) {
      this.#idsOfSlug.delete(slug);
      const spellings = this.#slugsOfLower.get(slug.toLowerCase());
      spellings?.delete(slug);
      if (spellings?.size === 0) this.#slugsOfLower.delete(slug.toLowerCase());
    }
    if (this.#urlsIndexed !== "no") {
      const url = addressKey(i.url);
      if (this.#idOfUrl.get(url) === i.id) this.#idOfUrl.delete(url);
    }
    this.#leased.delete(i.id);
    this.#checked.delete(i.id);
    this.#onNodes.delete(i.id);
  }
}
