/**
 * Issue 22 point 1: watchers of `GET /registry-svc/watch` that never read. Their number is
 * capped (503 past it), and what they leave unread is bounded per watcher and in total: those
 * who do not read are cut off, counted, and the memory they hold stays flat while registrations
 * with large details flow.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { startTestRegistry, type TestRegistry } from "./harness/registry.ts";
import { until } from "./harness/until.ts";
import { metricValue } from "./harness/metrics.ts";

const WATCHERS = 1000;
const BUFFER_BYTES = 64 * 1024;
const TOTAL_BYTES = 4 * 1024 * 1024;
const DETAILS = "d".repeat(4000);

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** This process's memory after a full collection: heap and what buffers hold outside it. */
const memory = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

/** A watcher that reads its response head, then never reads again. */
function idleWatcher(url: URL): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.once("error", reject);
    socket.write(`GET /registry-svc/watch HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    socket.once("data", (head: Buffer) => {
      socket.pause(); // nothing is read from here on: the kernel's buffers fill, then the registry's
      socket.on("error", () => undefined); // it is cut off
      if (head.toString().startsWith("HTTP/1.1 200")) resolve(socket);
      else reject(new Error(`the watch was refused: ${head.toString().split("\r\n")[0]}`));
    });
  });
}

const metric = (base: string, name: string) => metricValue(base, name);

describe("watchers that never read (issue 22 point 1)", () => {
  let r: TestRegistry;
  let base: string;
  const sockets: Socket[] = [];

  before(async () => {
    r = await startTestRegistry({ watchersMax: WATCHERS, watchBufferBytes: BUFFER_BYTES, watchTotalBytes: TOTAL_BYTES });
    base = r.registry.httpUrl!;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await r.stop();
  });

  test(`${WATCHERS} idle watchers: one more gets 503; under large registrations all are cut off and memory stays flat`, async () => {
    const url = new URL(base);
    for (let i = 0; i < WATCHERS; i += 100) sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => idleWatcher(url)))));
    const refused = await fetch(`${base}/registry-svc/watch`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /too many watchers: 1000 are connected.*REGISTRY_WATCHERS_MAX/);
    assert.equal(await metric(base, "registry_watchers_refused_total"), 1);
    assert.equal(await metric(base, "registry_watchers"), WATCHERS);

    const before = memory();
    let registered = 0;
    let maxBuffered = 0;
    // Registrations with 4 KB of details, 20 at a time, until every idle watcher is cut off.
    await until(
      async () => {
        await Promise.all(
          Array.from({ length: 20 }, () => r.call("instance.register", { url: `http://127.0.0.1:${10_000 + registered++}`, slug: "flood-svc", details: DETAILS })),
        );
        maxBuffered = Math.max(maxBuffered, await metric(base, "registry_watch_buffered_bytes"));
        return (await metric(base, "registry_watchers_cut_total")) === WATCHERS;
      },
      "every idle watcher to be cut off",
      240_000,
    );
    const grown = memory() - before;
    assert.equal(await metric(base, "registry_watchers"), 0);
    assert.equal(await metric(base, "registry_watch_buffered_bytes"), 0);
    // Bounded by the total cap, plus at most the one frame whose write crossed it.
    assert.ok(maxBuffered <= TOTAL_BYTES + BUFFER_BYTES, `the watchers held ${maxBuffered} bytes, over the cap of ${TOTAL_BYTES}`);
    // Flat: the old registry held up to 4 MiB per watcher, gigabytes here.
    assert.ok(grown < 64 * 1024 * 1024, `memory grew by ${Math.round(grown / 1024 / 1024)} MiB after ${registered} registrations`);

    // The registry still serves a watcher who reads.
    const res = await fetch(`${base}/registry-svc/watch`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await r.call("instance.register", { url: "http://127.0.0.1:9999", slug: "after-flood" });
    let seen = "";
    while (!seen.includes("after-flood")) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
  });
});
