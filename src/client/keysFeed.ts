/**
 * A live view of instances for a caller outside the registry's account, which has no
 * JetStream there: a subscription to keys of the instances bucket (a stream the registry's
 * account exports; each caller's users may subscribe to what they may read) and the current
 * state listed with each entry's version. Whichever arrives first, a change wins only when
 * newer: a later version, or the same version with newer telemetry (the projector's rule).
 * Used by discover() (one slug's keys of the instances bucket) and by node agents (their node's
 * keys of the per-node index, listed by node URL).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { isKvDeletion, kvKeyOf, kvSubject } from "../nats/index.ts";
import type { Logger } from "pino";
import { RegistryError } from "../contract/errors.ts";
import { instanceKey, nodeInstanceKey } from "../contract/ids.ts";
import { VERSION_HEADER } from "../contract/names.ts";
import { readInstance, readNodeInstance } from "../contract/readers.ts";
import type { Instance } from "../contract/schemas.ts";
import { isNewerTelemetry } from "../domain/telemetry.ts";

type Known = { value: Instance | null; version: number };
/** How a bucket keys an instance, and reads an entry under its key. */
export type InstanceKeying = { keyOf: (i: Instance) => string; read: typeof readInstance };
/** The instances bucket: `<slug>.<id>`. */
export const BY_SLUG: InstanceKeying = { keyOf: (i) => instanceKey(i.slug, i.id), read: readInstance };
/** The per-node index: `<node key>.<id>`, for instances that name a node. */
export const BY_NODE: InstanceKeying = { keyOf: (i) => (i.nodeUrl === undefined ? "" : nodeInstanceKey(i.nodeUrl, i.id)), read: readNodeInstance };
export type ListPage = (after: string | undefined) => Promise<{ instances: Instance[]; next?: string; versions?: Record<string, number> }>;

function newer(known: Known | undefined, value: Instance | null, version: number): boolean {
  if (!known || version !== known.version) return !known || version > known.version;
  return value !== null && known.value !== null && isNewerTelemetry(known.value, value.lastHeartbeat);
}

export class KeysFeed {
  readonly #known = new Map<string, Known>();
  readonly #listeners: (() => void)[] = [];
  #sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    /** The keys followed: `<slug>.>`, or `<node key>.>`. */
    private readonly keys: string,
    private readonly listPage: ListPage,
    private readonly log: Logger,
    private readonly keying: InstanceKeying = BY_SLUG,
  ) {}

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  *values(): IterableIterator<Instance> {
    for (const k of this.#known.values()) if (k.value) yield k.value;
  }

  get(id: string): Instance | undefined {
    for (const k of this.#known.values()) if (k.value?.id === id) return k.value;
    return undefined;
  }

  /** Subscribes, then lists; resolves once the current state is in. */
  async start(): Promise<void> {
    this.#sub = this.nc.subscribe(kvSubject(this.bucket, this.keys), {
      callback: (err, m) => {
        if (err) return;
        const key = kvKeyOf(this.bucket, m.subject) ?? m.subject;
        const version = Number(m.headers?.get(VERSION_HEADER)) || 0;
        if (isKvDeletion(m.headers)) return this.#apply(key, null, version);
        let read;
        try {
          read = this.keying.read(m.json(), key);
        } catch {
          read = undefined;
        }
        if (read?.ok) this.#apply(key, read.value, version);
        else this.log.warn({ key }, "instance entry cannot be read; skipped");
      },
    });
    await this.nc.flush(); // a subscription the server refuses is closed by now
    if (this.#sub.isClosed()) {
      throw new RegistryError(403, `this connection may not watch ${kvSubject(this.bucket, this.keys)}; its account has no grant for those instances (see docs/API.md, Security)`);
    }
    for (let after: string | undefined; ; ) {
      const page = await this.listPage(after);
      for (const i of page.instances) this.#apply(this.keying.keyOf(i), i, page.versions?.[i.id] ?? 0);
      if (page.next === undefined) return;
      after = page.next;
    }
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  #apply(key: string, value: Instance | null, version: number): void {
    if (!newer(this.#known.get(key), value, version)) return;
    this.#known.set(key, { value, version }); // a delete stays as a tombstone, so an older put cannot bring it back
    for (const l of this.#listeners) l();
  }
}
