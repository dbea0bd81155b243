/** The physical limit on this machine: raw JetStream publishes with ack, and raw KV puts. */
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { latency, sampleInstance, throughput, type Latency, type Throughput } from "./lib.ts";

export type LimitResult = { publish: { latency: Latency; throughput: Throughput }; kvPut: { latency: Latency; throughput: Throughput } };

export async function benchLimit(nc: NatsConnection, n: number): Promise<LimitResult> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw.>"], storage: StorageType.File });
  const js = jetstream(nc);
  const kv = await new Kvm(nc).create("bench_raw", { history: 1, storage: StorageType.File });
  const body = (i: number) => JSON.stringify({ type: "InstanceRegistered", data: { instance: sampleInstance(Math.abs(i), 1000) }, metadata: { at: new Date().toISOString() } });
  const result: LimitResult = {
    publish: {
      latency: await latency(n, (i) => js.publish(`bench.raw.${Math.abs(i)}`, body(i))),
      throughput: await throughput(n, 64, (i) => js.publish(`bench.raw.t${i}`, body(i))),
    },
    kvPut: {
      latency: await latency(n, (i) => kv.put(`k${Math.abs(i)}`, body(i))),
      throughput: await throughput(n, 64, (i) => kv.put(`t${i}`, body(i))),
    },
  };
  await jsm.streams.delete("BENCH_RAW");
  await kv.destroy();
  return result;
}
