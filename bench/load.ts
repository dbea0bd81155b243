/**
 * Fills a registry fast: InstanceRegistered events are published straight onto the event
 * stream (64 in flight), and the registry's own projector projects them; we wait until the
 * instances bucket holds them all. Returns how fast they were projected.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sampleInstance, throughput, waitUntil } from "./lib.ts";

export async function loadInstances(nc: NatsConnection, from: number, to: number, perSlug = 10): Promise<{ projectedPerSecond: number }> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const at = new Date().toISOString();
  const started = performance.now();
  await throughput(to - from, 64, (i) => {
    const instance = { ...sampleInstance(from + i, 1, at), slug: `svc-${String(Math.floor((from + i) / perSlug)).padStart(6, "0")}` };
    return js.publish(`registry.events.instance.${instance.id}`, JSON.stringify({ type: "InstanceRegistered", data: { instance }, metadata: { at } }));
  });
  await waitUntil(async () => (await jsm.streams.info("KV_registry_instances")).state.messages >= to, `${to} instances in KV_registry_instances`, 300_000, 50);
  return { projectedPerSecond: Math.round((to - from) / ((performance.now() - started) / 1000)) };
}
