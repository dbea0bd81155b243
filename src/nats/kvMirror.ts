/**
 * An in-memory mirror of one KV bucket, kept current by an ordered consumer on the
 * bucket's stream (the same thing a KV watch is, but it also tells us each entry's
 * stream sequence, so we know when we are caught up).
 *
 * `sync()` is the read-your-writes barrier: it asks the server for the bucket's last
 * sequence and waits until the mirror has applied it. A write acknowledged by any registry
 * process before a query arrives is therefore visible to that query, whichever process
 * answers it.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { RegistryError } from "../contract/errors.ts";
import { VERSION_HEADER, type Entry } from "../contract/names.ts";
import type { ReadResult } from "../contract/validate.ts";
import type { Unreadable } from "../unreadable.ts";
import { kvHeadersOf, kvStream, kvSubject } from "./kvSubjects.ts";
import { EntrySlots } from "./entrySlots.ts";

export type ChangeListener<T> = (key: string, value: T | null, previous: T | null) => void;


export type MirrorOptions<T> = {
  /** Turns a parsed entry into a value, or says why it cannot (`key` is where it was found). */
  read: (value: unknown, key: string) => ReadResult<T>;
  /** Where unreadable entries are counted (a silent counter when absent). */
  unreadable?: Unreadable;
  /** Narrows the mirror to matching keys (`user-svc.>`), on the server; the default is the whole bucket. */
  keys?: string;
  /** Narrows it further, in this process: entries of other keys are passed over unread (nats-server 2.9 filters a consumer on one subject only). */
  holds?: (key: string) => boolean;
  /**
   * Keys entries in memory by an id that the KV key and the value both hold (an instance's id in
   * `<slug>.<id>`): the value's own string is then the map's key, where the KV key would be one
   * more string an entry, and a second index from id to KV key another map entry (at a million
   * instances, ~100 MB between them). Readers guarantee that `keyOf(value)` is the entry's key.
   */
  byId?: { ofKey(key: string): string; ofValue(value: T): string; keyOf(value: T): string; isKeyOf(value: T, key: string): boolean };
};

const SYNC_TIMEOUT_MS = 5000;
/** Deleted keys whose version is remembered (the most recent ones), so a delete can be known as applied. */
const TOMBSTONES = 10_000;
/** A sync still waiting after this long asks for the last message that really exists (the last ones may have been purged). */
const RECHECK_AFTER_MS = 500;
/** A sync still waiting after this long, with nothing applied meanwhile, restarts the consumer. */
const RESTART_AFTER_MS = 2000;
/** How often a first load says how far it is, and how long it may go without an entry before the start fails. */
const LOAD_REPORT_MS = 1000;
const LOAD_STALL_MS = 15_000;

/**
 * A copy of a string that holds nothing else: a substring is a slice that keeps the whole
 * original (here the message's subject) alive for as long as the mirror keeps the key.
 */
const ownString = (s: string) => Buffer.from(s, "utf8").toString("utf8");

export class KvMirror<T> {
  /** Live entries as last seen: value, KV revision and the event version each reflects; by KV key, or by id (`byId`). */
  readonly #entries = new EntrySlots<T>();
  readonly #unreadableKeys = new Set<string>();
  /** The version each recently deleted key was deleted at, oldest first. */
  readonly #tombstones = new Map<string, number>();
  readonly #keyWaiters = new Map<string, { version: number; resolve: (reflected: boolean) => void }[]>();
  readonly #listeners: ChangeListener<T>[] = [];
  #applied = 0;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #stop: (() => void) | undefined;
  #stopped = false;
  #restarting = false;
  #nextBarrier: Promise<number> | undefined;
  #inFlightBarrier: Promise<number> | undefined;
  readonly #stream: string;
  readonly #prefixLength: number;
  readonly keys: string;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly bucket: string,
    private readonly log: Logger,
    private readonly options: MirrorOptions<T>,
  ) {
    this.#stream = kvStream(bucket);
    this.#prefixLength = kvSubject(bucket, "").length;
    this.keys = options.keys ?? ">";
  }

  onChange(listener: ChangeListener<T>): void {
    this.#listeners.push(listener);
  }

  get(key: string): T | undefined {
    const byId = this.options.byId;
    if (!byId) return this.#entries.valueOf(key);
    const value = this.#entries.valueOf(byId.ofKey(key));
    return value !== undefined && byId.isKeyOf(value, key) ? value : undefined;
  }

  entry(key: string): Entry<T> | undefined {
    const byId = this.options.byId;
    if (!byId) return this.#entries.get(key);
    const entry = this.#entries.get(byId.ofKey(key));
    return entry && byId.isKeyOf(entry.value, key) ? entry : undefined;
  }

  /** The value of an id, whatever its KV key (`byId` mirrors only): `entryOfId` without making the entry. */
  valueOfId(id: string): T | undefined {
    return this.options.byId ? this.#entries.valueOf(id) : undefined;
  }

  /** The entry of an id, whatever its KV key (`byId` mirrors only). */
  entryOfId(id: string): Entry<T> | undefined {
    return this.options.byId ? this.#entries.get(id) : undefined;
  }

  entries(): IterableIterator<Entry<T>> {
    return this.#entries.entries();
  }

  values(): IterableIterator<T> {
    return this.#entries.values();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The keys of every readable entry. */
  *entryKeys(): IterableIterator<string> {
    const byId = this.options.byId;
    if (!byId) {
      yield* this.#entries.keys();
      return;
    }
    for (const value of this.#entries.values()) yield byId.keyOf(value);
  }

  /** The keys whose current entry could not be read. */
  unreadableKeys(): ReadonlySet<string> {
    return this.#unreadableKeys;
  }

  /** Whether the mirror has applied version `version` (or a later one) of `key`, as a value or a delete. */
  reflects(key: string, version: number): boolean {
    return (this.entry(key)?.version ?? this.#tombstones.get(key) ?? 0) >= version;
  }

  /**
   * Resolves true once the mirror reflects version `version` of `key`, false after `withinMs`:
   * it tells a catch-up projector that a write it was about to repeat is already there.
   */
  whenReflects(key: string, version: number, withinMs: number): Promise<boolean> {
    if (this.reflects(key, version)) return Promise.resolve(true);
    if (withinMs <= 0 || !this.holds(key)) return Promise.resolve(false); // a key it passes over is never reflected here
    return this.#whenApplied(key, version, withinMs);
  }

  /** Whether the mirror keeps `key` (REGISTRY_SLUGS may narrow it). */
  holds(key: string): boolean {
    return this.options.holds?.(key) ?? true;
  }

  #whenApplied(key: string, version: number, withinMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = { version, resolve: (reflected: boolean) => (clearTimeout(timer), resolve(reflected)) };
      const timer = setTimeout(() => {
        const left = (this.#keyWaiters.get(key) ?? []).filter((w) => w !== waiter);
        if (left.length > 0) this.#keyWaiters.set(key, left);
        else this.#keyWaiters.delete(key);
        resolve(false);
      }, withinMs);
      const waiters = this.#keyWaiters.get(key);
      if (waiters) waiters.push(waiter);
      else this.#keyWaiters.set(key, [waiter]);
    });
  }

  /** The bucket's state could not be read: the server is down or unreachable. */
  #unreadableState(err: unknown): RegistryError {
    return new RegistryError(503, `reading the state of ${this.#stream} failed (${(err as Error).message}); check nats-server and retry`, { cause: err });
  }

  /**
   * Starts mirroring; resolves once every value present at the start is loaded. A large bucket
   * takes as long as it takes (a million instances, seconds): no deadline while entries keep
   * arriving, `progress` told how far it is (the stream sequence reached, of the last one) about
   * once a second; a consumer that stalls is started again where it left off, and one that stays
   * stalled fails the start.
   */
  async start(progress?: (loaded: number, of: number) => void): Promise<void> {
    let target: number;
    try {
      target = await this.#lastSequence();
    } catch (err) {
      throw this.#unreadableState(err);
    }
    progress?.(0, target);
    let reached = false;
    const waiter = { seq: target, resolve: () => undefined as void };
    const loaded = new Promise<void>((resolve) => (waiter.resolve = () => ((reached = true), resolve())));
    this.#waiters.push(waiter);
    await this.#follow();
    let seen = this.#applied;
    let stalledSince = Date.now();
    while (!reached && this.#applied < target) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([loaded, new Promise((r) => (timer = setTimeout(r, LOAD_REPORT_MS)))]);
      clearTimeout(timer);
      if (reached) break;
      progress?.(this.#applied, target);
      if (this.#applied !== seen) {
        seen = this.#applied;
        stalledSince = Date.now();
        continue;
      }
      const last = await this.#lastExisting().catch((err: unknown) => {
        throw this.#unreadableState(err);
      });
      if (last <= this.#applied) break; // the last entries were deleted or purged meanwhile
      if (Date.now() - stalledSince > LOAD_STALL_MS) throw new RegistryError(503, `loading ${this.bucket} stalled at ${this.#applied} of ${target} (no entry for ${LOAD_STALL_MS / 1000} s); check nats-server and retry`);
      this.#restartIfStalled(seen);
    }
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
    progress?.(target, target);
    await this.sync();
  }

  stop(): void {
    this.#stopped = true;
    this.#stop?.();
  }

  /** Follows the bucket from the entry after the last one applied (from the start, the first time). */
  async #follow(): Promise<void> {
    const from = this.#applied + 1;
    const consumer = await this.js.consumers.getPushConsumer(this.#stream, {
      filter_subjects: kvSubject(this.bucket, this.keys),
      ...(from === 1 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }),
    });
    const messages = await consumer.consume({ callback: (m) => this.#apply(m) });
    this.#stop = () => void messages.stop();
    void messages.closed().then((err) => {
      if (err && !this.#stopped) this.log.error({ err, bucket: this.bucket }, "read model stopped following its bucket");
    });
  }

  /**
   * A consumer whose server went away (a cluster node stopped) can stall without noticing;
   * a sync that waits too long starts a new one where this mirror left off.
   */
  #restartIfStalled(appliedWhenAsked: number): void {
    if (this.#stopped || this.#restarting || this.#applied !== appliedWhenAsked) return;
    this.#restarting = true;
    this.log.warn({ bucket: this.bucket, at: this.#applied }, "read model stalled; following its bucket again from where it was");
    this.#stop?.();
    this.#follow()
      .catch((err) => this.log.warn({ err, bucket: this.bucket }, "read model could not follow its bucket again; the next stalled sync retries"))
      .finally(() => (this.#restarting = false));
  }

  async sync(): Promise<void> {
    let lastSeq: number;
    try {
      lastSeq = await this.#barrier();
    } catch (err) {
      throw this.#unreadableState(err);
    }
    if (this.#applied >= lastSeq) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(recheck);
        clearTimeout(stall);
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        resolve();
      };
      const appliedWhenAsked = this.#applied;
      const recheck = setTimeout(() => {
        this.#lastExisting().then((last) => last <= this.#applied && done(), () => undefined);
      }, RECHECK_AFTER_MS);
      const stall = setTimeout(() => this.#restartIfStalled(appliedWhenAsked), RESTART_AFTER_MS);
      const timer = setTimeout(() => {
        clearTimeout(recheck);
        clearTimeout(stall);
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new RegistryError(503, `the ${this.bucket} read model is behind the bucket (at ${this.#applied}, bucket at ${lastSeq}); retry`));
      }, SYNC_TIMEOUT_MS);
      this.#waiters.push({ seq: lastSeq, resolve: done });
    });
  }

  /**
   * Concurrent syncs share one read of the bucket's last sequence, as long as it is sent
   * after each of them was asked for: a read already on its way may predate a caller's
   * write, so callers arriving meanwhile wait for the next one, which they then share.
   */
  #barrier(): Promise<number> {
    if (!this.#nextBarrier) {
      const previous = this.#inFlightBarrier ?? Promise.resolve(0);
      this.#nextBarrier = previous
        .catch(() => 0)
        .then(() => {
          this.#nextBarrier = undefined;
          this.#inFlightBarrier = this.#lastSequence();
          return this.#inFlightBarrier;
        });
    }
    return this.#nextBarrier;
  }

  /** The sequence the mirror must reach: the bucket's last, or the last of the keys it follows. */
  async #lastSequence(): Promise<number> {
    if (this.keys !== ">") return this.#lastExisting();
    const { state } = await this.jsm.streams.info(this.#stream);
    return state.messages === 0 ? 0 : state.last_seq; // a purged stream keeps its last sequence but no message
  }

  /** The sequence of the last message of the followed keys that is still in the stream. */
  async #lastExisting(): Promise<number> {
    const last = await this.jsm.direct.getMessage(this.#stream, { last_by_subj: kvSubject(this.bucket, this.keys) });
    return last?.seq ?? 0;
  }

  #apply(m: JsMsg): void {
    if (m.seq <= this.#applied) return; // a restarted consumer's overlap
    if (this.options.holds && !this.options.holds(m.subject.substring(this.#prefixLength))) {
      this.#applied = m.seq;
      this.#wakeSyncs();
      return;
    }
    const byId = this.options.byId;
    // Kept by the map only when entries are by KV key; else for the rare tombstone or unreadable key.
    const key = byId ? m.subject.substring(this.#prefixLength) : ownString(m.subject.substring(this.#prefixLength));
    const headers = kvHeadersOf(m, VERSION_HEADER);
    const deleted = headers.operation !== "PUT";
    const value = deleted ? null : this.#read(m, key);
    const version = Number(headers.value) || 0;
    // By id, a value's own id finds what the mirror holds for it: the entry of this key, or of another (a move).
    const held = byId && value !== null ? this.#entries.get(byId.ofValue(value)) : this.entry(key);
    const previous = held && (!byId || value === null || byId.isKeyOf(held.value, key)) ? held.value : null;
    if (deleted) this.#unreadableKeys.delete(key);
    if (this.#tombstones.size > 0) this.#tombstones.delete(key);
    if (value === null) {
      if (previous !== null) this.#entries.delete(byId ? byId.ofValue(previous) : key);
      if (deleted) this.#rememberDelete(ownString(key), version);
    } else if (byId) {
      // The id under another key (a move, whose delete comes next): that key leaves the mirror now.
      const displaced = previous === null ? held : undefined;
      this.#entries.set(byId.ofValue(value), value, m.seq, version);
      if (displaced) for (const listener of this.#listeners) listener(byId.keyOf(displaced.value), null, displaced.value);
    } else this.#entries.set(key, value, m.seq, version);
    this.#applied = m.seq;
    if (value !== null || previous !== null) for (const listener of this.#listeners) listener(key, value, previous);
    const keyWaiters = this.#keyWaiters.size > 0 ? this.#keyWaiters.get(key) : undefined;
    if (keyWaiters) {
      const left = keyWaiters.filter((w) => !this.reflects(key, w.version));
      if (left.length > 0) this.#keyWaiters.set(key, left);
      else this.#keyWaiters.delete(key);
      for (const w of keyWaiters) if (!left.includes(w)) w.resolve(true);
    }
    this.#wakeSyncs();
  }

  /** Resolves the syncs (and the first load) the mirror has now caught up with. */
  #wakeSyncs(): void {
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => w.seq <= this.#applied);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#applied);
    for (const w of ready) w.resolve();
  }

  #rememberDelete(key: string, version: number): void {
    this.#tombstones.set(key, version);
    if (this.#tombstones.size > TOMBSTONES) this.#tombstones.delete(this.#tombstones.keys().next().value!);
  }

  /** The entry's value, or null (counted and logged once) when it cannot be read. */
  #read(m: JsMsg, key: string): T | null {
    let result: ReadResult<T>;
    try {
      result = this.options.read(JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString("utf8")), key);
    } catch {
      result = { ok: false, reason: "not JSON" };
    }
    if (result.ok) {
      this.#unreadableKeys.delete(key);
      return result.value;
    }
    this.#unreadableKeys.add(ownString(key));
    this.options.unreadable?.skip("kvEntries", `${this.bucket}/${key}@${m.seq}`, result.reason, { bucket: this.bucket, key, revision: m.seq });
    return null;
  }
}
