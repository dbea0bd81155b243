/**
 * Rebuild: `events` events over events/10 instances (each registered, then updated nine
 * times) are put in the stream before a registry starts; the registry projects them; then
 * the instances bucket is purged (lost) and rebuilt in place as `registry rebuild` does. Measured: events covered
 * per second, from the rebuild's start until every instance is back in the bucket.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { namesFor } from "../src/contract/names.ts";
import { pino } from "pino";
import { PROJECTOR_DURABLE } from "../src/projector/projector.ts";
import { provisionRegistry, rebuildBuckets } from "../src/app/storage.ts";
import { sampleInstance, throughput, waitUntil } from "./lib.ts";

export type RebuildResult = { events: number; entities: number; seconds: number; eventsPerSecond: number; publishPerSecond: number };

/**
 * Done when the instances bucket holds every instance again. (Polling the consumer's
 * pending count instead costs the server a scan of the stream on every poll.)
 */
async function projected(nc: NatsConnection, entities: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const count = async () => (await jsm.streams.info("KV_registry_instances")).state.messages >= entities;
  await waitUntil(count, `${entities} instances in KV_registry_instances`);
}

export async function benchRebuild(nc: NatsConnection, events: number, startRegistry: () => Promise<unknown>): Promise<RebuildResult> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await provisionRegistry(nc, jsm, namesFor("registry"));
  await jsm.consumers.delete("REGISTRY_EVENTS", PROJECTOR_DURABLE); // the registry re-creates it when it starts
  const entities = events / 10;
  const at = new Date().toISOString();
  const published = await throughput(events, 64, (i) => {
    const n = i % entities;
    const instance = { ...sampleInstance(n, entities / 10, at), tags: ["bench", `v${Math.floor(i / entities)}`] };
    const type = i < entities ? "InstanceRegistered" : "InstanceUpdated";
    const data = type === "InstanceRegistered" ? { instance } : { instance, changed: ["tags"] };
    return js.publish(`registry.events.instance.${instance.id}`, JSON.stringify({ type, data, metadata: { at } }));
  });
  await startRegistry();
  await projected(nc, entities);
  const started = performance.now();
  await jsm.streams.purge("KV_registry_instances"); // lost: every entry comes back from the events
  await rebuildBuckets(nc, namesFor("registry"), pino({ level: "silent" }));
  await projected(nc, entities);
  const seconds = (performance.now() - started) / 1000;
  return { events, entities, seconds: Math.round(seconds * 10) / 10, eventsPerSecond: Math.round(events / seconds), publishPerSecond: published.opsPerSecond };
}
