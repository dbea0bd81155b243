import { test } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../src/contract/schemas.ts";
import type { ChangeListener } from "../src/nats/kvMirror.ts";
import { nodeUrlIndex } from "../src/readmodels/nodeUrls.ts";

/** A nodes mirror as the index sees it: entries, and the changes it is told of. */
function fakeMirror() {
  const entries = new Map<string, Node>();
  let listener: ChangeListener<Node> = () => undefined;
  return {
    onChange: (l: ChangeListener<Node>) => void (listener = l),
    get: (id: string) => entries.get(id),
    put(id: string, url: string) {
      const previous = entries.get(id) ?? null;
      const node = { id, url, status: "Online" } as Node;
      entries.set(id, node);
      listener(id, node, previous);
    },
    remove(id: string) {
      const previous = entries.get(id) ?? null;
      entries.delete(id);
      listener(id, null, previous);
    },
  };
}

test("node URLs - the index follows joins, moves and removals; URLs that nodes share are reported once per new holder", () => {
  const mirror = fakeMirror();
  const shared: [string, string[]][] = [];
  const index = nodeUrlIndex(mirror, (url, ids) => shared.push([url, ids]));
  const holders = (url: string) => [...index.withUrl(url)].map((n) => n.id).sort();
  mirror.put("a", "http://u1");
  mirror.put("a", "http://u1"); // telemetry: the same URL again
  assert.deepEqual(holders("http://u1"), ["a"]);
  mirror.put("a", "http://u2");
  assert.deepEqual([holders("http://u1"), holders("http://u2")], [[], ["a"]], "a move frees the old URL");
  // Data written before URLs were unique: b and c on one URL.
  mirror.put("b", "http://u3");
  mirror.put("c", "http://u3");
  mirror.put("c", "http://u3");
  assert.deepEqual(shared, [["http://u3", ["b", "c"]]], "reported once");
  mirror.remove("b");
  assert.deepEqual(holders("http://u3"), ["c"]);
  assert.deepEqual(shared.length, 1);
});
