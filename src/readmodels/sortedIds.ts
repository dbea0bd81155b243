/**
 * A sorted set of ids, kept as a list of short sorted chunks: adding or removing an id moves
 * at most one chunk's elements, where one sorted array moves half of all of them (measured:
 * 11% of the registry's CPU while 60k registrations with random ids went into one array).
 * Iteration from any id is in order.
 *
 * Added ids wait in a pending list until the set is next read: a few are then placed one by one,
 * many (a read model loading a million instances, whose ids come in no order) are sorted once
 * and merged, which took a cold start's 6 s of placing a million random ids one by one to about
 * one.
 */
const CHUNK = 1024;

/** The index of the first element of sorted `ids` greater than `id` (or not less than it). */
function bisect(ids: readonly string[], id: string, strictlyGreater: boolean): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id || (strictlyGreater && ids[mid] === id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedIds {
  #chunks: string[][] = [];
  #size = 0;
  #pending: string[] = [];

  get size(): number {
    this.#settle();
    return this.#size;
  }

  /** Places the pending ids: one by one when they are few beside the set, else sorted and merged in one pass. */
  #settle(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    if (pending.length * CHUNK <= this.#size) {
      for (const id of pending) this.#insert(id);
      return;
    }
    pending.sort();
    const merged: string[] = [];
    const old = this.#chunks.flat();
    let i = 0;
    let j = 0;
    while (i < old.length || j < pending.length) {
      const next = j >= pending.length || (i < old.length && old[i]! <= pending[j]!) ? old[i++]! : pending[j++]!;
      if (merged.length === 0 || merged[merged.length - 1] !== next) merged.push(next);
    }
    this.#chunks = [];
    for (let at = 0; at < merged.length; at += CHUNK) this.#chunks.push(merged.slice(at, at + CHUNK));
    this.#size = merged.length;
  }

  /** The chunk that holds `id` or where it belongs: the first whose last id is not less than it (else the last). */
  #chunkFor(id: string): number {
    let lo = 0;
    let hi = this.#chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#chunks[mid]!.at(-1)! < id) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(lo, this.#chunks.length - 1);
  }

  add(id: string): void {
    this.#pending.push(id);
  }

  #insert(id: string): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([id]);
      this.#size = 1;
      return;
    }
    const c = this.#chunkFor(id);
    const chunk = this.#chunks[c]!;
    const at = bisect(chunk, id, false);
    if (chunk[at] === id) return;
    chunk.splice(at, 0, id);
    this.#size++;
    if (chunk.length > 2 * CHUNK) this.#chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  delete(id: string): void {
    this.#settle();
    if (this.#chunks.length === 0) return;
    const c = this.#chunkFor(id);
    const chunk = this.#chunks[c]!;
    const at = bisect(chunk, id, false);
    if (chunk[at] !== id) return;
    chunk.splice(at, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(c, 1);
  }

  /** The ids greater than `after` (all of them without it), in order. */
  *after(after?: string): IterableIterator<string> {
    this.#settle();
    if (this.#chunks.length === 0) return;
    let c = after === undefined ? 0 : this.#chunkFor(after);
    let at = after === undefined ? 0 : bisect(this.#chunks[c]!, after, true);
    for (; c < this.#chunks.length; c++, at = 0) {
      const chunk = this.#chunks[c]!;
      for (; at < chunk.length; at++) yield chunk[at]!;
    }
  }
}
