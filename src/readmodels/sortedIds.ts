/**
 * A sorted set of ids, kept as a list of short sorted chunks: adding or removing an id moves
 * at most one chunk's elements, where one sorted array moves half of all of them (measured:
 * 11% of the registry's CPU while 60k registrations with random ids went into one array).
 * Iteration from any id is in order.
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
  readonly #chunks: string[][] = [];
  #size = 0;

  get size(): number {
    return this.#size;
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
    if (this.#chunks.length === 0) return;
    let c = after === undefined ? 0 : this.#chunkFor(after);
    let at = after === undefined ? 0 : bisect(this.#chunks[c]!, after, true);
    for (; c < this.#chunks.length; c++, at = 0) {
      const chunk = this.#chunks[c]!;
      for (; at < chunk.length; at++) yield chunk[at]!;
    }
  }
}
