/**
 * One page of a list: items in id order after `after`, at most `limit`, and never more than
 * `budgetBytes` of JSON, so that a reply always fits the NATS max_payload whatever the
 * items hold; `next` (the `after` of the next page) says there is more.
 */
import { Buffer } from "node:buffer";

export type PageRequest = { limit?: number | undefined; after?: string | undefined };
export type Page<T> = { items: T[]; next?: string };

/**
 * Takes a page from `items`, which are already filtered, past `after` and in id order.
 * `extraBytes` is what the reply carries per item besides the item itself.
 */
export function takePage<T extends { id: string }>(items: Iterable<T>, limit: number | undefined, budgetBytes: number, extraBytes = 0): Page<T> {
  return takePageBy(items, (item) => item.id, limit, budgetBytes, extraBytes);
}

/** takePage for items ordered by another key than an id (services by slug): `keyOf` is what `next` names. */
export function takePageBy<T>(items: Iterable<T>, keyOf: (item: T) => string, limit: number | undefined, budgetBytes: number, extraBytes = 0): Page<T> {
  const page: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1 + extraBytes;
    const full = page.length === (limit ?? Infinity) || (page.length > 0 && bytes + size > budgetBytes);
    if (full) return { items: page, next: keyOf(page.at(-1)!) };
    bytes += size;
    page.push(item);
  }
  return { items: page };
}

/** The items of a whole collection past `after`, in id order. */
export function* after<T extends { id: string }>(sorted: Iterable<T>, afterId: string | undefined): Iterable<T> {
  for (const item of sorted) if (afterId === undefined || item.id > afterId) yield item;
}
