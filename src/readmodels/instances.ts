/**
 * Instances, indexed for the queries the registry answers: by id, by owning slug (the
 * first token of the KV key) and by normalized URL (re-registration of a known URL).
 */
import type { Instance, ListInstancesRequest } from "../contract/schemas.ts";
import { idOfInstanceKey } from "../contract/ids.ts";
import { normalizeUrl } from "../domain/address.ts";
import type { KvMirror } from "../nats/kvMirror.ts";

/** Healthy and Degraded instances take traffic. */
export const isHealthy = (i: Instance) => i.status === "Healthy" || i.status === "Degraded";

export class InstancesView {
  readonly #keyOfId = new Map<string, string>();
  readonly #keysOfSlug = new Map<string, Set<string>>();
  readonly #idOfUrl = new Map<string, string>();

  constructor(private readonly mirror: KvMirror<Instance>) {
    mirror.onChange((key, value, previous) => {
      if (previous) this.#unindex(key, previous);
      if (value) this.#index(key, value);
    });
  }

  sync(): Promise<void> {
    return this.mirror.sync();
  }

  get(id: string): Instance | undefined {
    const key = this.#keyOfId.get(id);
    return key === undefined ? undefined : this.mirror.get(key);
  }

  all(): Iterable<Instance> {
    return this.mirror.values();
  }

  idOfUrl(url: string): string | undefined {
    return this.#idOfUrl.get(normalizeUrl(url));
  }

  list(filter: ListInstancesRequest): Instance[] {
    const candidates = this.#candidates(filter);
    const tags = filter.tags ?? [];
    const result: Instance[] = [];
    for (const i of candidates) {
      if (filter.id !== undefined && i.id !== filter.id) continue;
      if (filter.slug !== undefined && i.slug !== filter.slug) continue;
      if (filter.host !== undefined && i.host !== filter.host) continue;
      if (filter.ip !== undefined && i.ip !== filter.ip) continue;
      if (filter.scheme !== undefined && i.scheme !== filter.scheme) continue;
      if (filter.path !== undefined && i.path !== filter.path) continue;
      if (filter.deploymentId !== undefined && i.deploymentId !== filter.deploymentId) continue;
      if (filter.nodeUrl !== undefined && i.nodeUrl !== filter.nodeUrl) continue;
      if (filter.status !== undefined && i.status !== filter.status) continue;
      if (filter.healthy !== undefined && isHealthy(i) !== filter.healthy) continue;
      if (tags.length > 0 && !tags.every((t) => i.tags.includes(t))) continue;
      result.push(i);
    }
    return result;
  }

  *#candidates(filter: ListInstancesRequest): Iterable<Instance> {
    if (filter.id !== undefined) {
      const one = this.get(filter.id);
      if (one) yield one;
      return;
    }
    if (filter.slug !== undefined) {
      for (const key of this.#keysOfSlug.get(filter.slug) ?? []) {
        const i = this.mirror.get(key);
        if (i) yield i;
      }
      return;
    }
    yield* this.mirror.values();
  }

  #index(key: string, i: Instance): void {
    this.#keyOfId.set(i.id, key);
    const slug = key.slice(0, key.indexOf("."));
    let keys = this.#keysOfSlug.get(slug);
    if (!keys) this.#keysOfSlug.set(slug, (keys = new Set()));
    keys.add(key);
    this.#idOfUrl.set(normalizeUrl(i.url), i.id);
  }

  #unindex(key: string, i: Instance): void {
    if (this.#keyOfId.get(i.id) === key) this.#keyOfId.delete(i.id);
    const slug = key.slice(0, key.indexOf("."));
    const keys = this.#keysOfSlug.get(slug);
    keys?.delete(key);
    if (keys?.size === 0) this.#keysOfSlug.delete(slug);
    const url = normalizeUrl(i.url);
    if (this.#idOfUrl.get(url) === idOfInstanceKey(key)) this.#idOfUrl.delete(url);
  }
}
