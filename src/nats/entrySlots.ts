/**
 * A mirror's entries: each key's value, KV revision and event version, kept in three arrays at
 * a slot the key maps to, not as an object an entry. At a million instances the object was 48 B
 * an entry (46 MiB); the slots take 24 B and their arrays' room to grow. An `Entry` is made when
 * asked for, and lives as long as its asker holds it.
 */
import type { Entry } from "../contract/names.ts";

export class EntrySlots<T> {
  /** The slot of each key, in the order keys were first set (a Map's): iteration follows it. */
  readonly #slotOf = new Map<string, number>();
  readonly #values: (T | undefined)[] = [];
  readonly #revisions: number[] = [];
  readonly #versions: number[] = [];
  /** Slots of deleted keys, taken again before the arrays grow. */
  readonly #free: number[] = [];

  get size(): number {
    return this.#slotOf.size;
  }

  get(key: string): Entry<T> | undefined {
    const slot = this.#slotOf.get(key);
    return slot === undefined ? undefined : this.#entryAt(slot);
  }

  /** The value alone: what most readers want, without an entry made for it. */
  valueOf(key: string): T | undefined {
    const slot = this.#slotOf.get(key);
    return slot === undefined ? undefined : this.#values[slot];
  }

  set(key: string, value: T, revision: number, version: number): void {
    let slot = this.#slotOf.get(key);
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#values.length;
      this.#slotOf.set(key, slot);
    }
    this.#values[slot] = value;
    this.#revisions[slot] = revision;
    this.#versions[slot] = version;
  }

  delete(key: string): void {
    const slot = this.#slotOf.get(key);
    if (slot === undefined) return;
    this.#slotOf.delete(key);
    this.#values[slot] = undefined; // the value goes now, not when the slot is next taken
    this.#free.push(slot);
  }

  keys(): IterableIterator<string> {
    return this.#slotOf.keys();
  }

  *entries(): IterableIterator<Entry<T>> {
    for (const slot of this.#slotOf.values()) yield this.#entryAt(slot);
  }

  *values(): IterableIterator<T> {
    for (const slot of this.#slotOf.values()) yield this.#values[slot]!;
  }

  #entryAt(slot: number): Entry<T> {
    return { value: this.#values[slot]!, revision: this.#revisions[slot]!, version: this.#versions[slot]! };
  }
}
