/**
 * The node agent: samples this machine and publishes a heartbeat on
 * `<prefix>.heartbeat.<nodeId>` every interval, the first one at once. It runs in every
 * registry process, and alone as `registry agent`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Names } from "../contract/names.ts";
import type { Heartbeat } from "../contract/schemas.ts";
import type { GpuProbe } from "./gpus.ts";
import type { NodeIdentity } from "./identity.ts";
import type { UsageProbe } from "./usage.ts";

export type NodeAgent = {
  identity: NodeIdentity;
  /** Publishes one heartbeat now. */
  beat(): Promise<Heartbeat>;
  stop(): void;
};

export function startNodeAgent(deps: {
  nc: NatsConnection;
  names: Names;
  identity: NodeIdentity;
  usage: UsageProbe;
  gpus: GpuProbe;
  intervalMs: number;
  log: Logger;
  clock?: () => Date;
}): NodeAgent {
  const { nc, names, identity, usage, gpus, log } = deps;
  const subject = names.heartbeatSubject(identity.id);
  let gpuWarned = false;

  async function sampleGpus(): Promise<Heartbeat["gpus"]> {
    try {
      const parsed = await gpus.sample();
      if (parsed && parsed.malformed.length > 0 && !gpuWarned) {
        gpuWarned = true;
        log.warn({ rows: parsed.malformed }, "nvidia-smi printed rows that could not be read; those GPUs are left out");
      }
      return parsed?.gpus;
    } catch (err) {
      if (!gpuWarned) log.warn({ err }, "nvidia-smi failed; heartbeats carry no GPUs until it works");
      gpuWarned = true;
      return undefined;
    }
  }

  let running = true;

  async function beat(): Promise<Heartbeat> {
    const [resources, gpuList] = await Promise.all([usage.sample(), sampleGpus()]);
    if (!running) throw new Error("the node agent is stopped");
    const heartbeat: Heartbeat = {
      id: identity.id,
      url: identity.url,
      ...(identity.region !== undefined ? { region: identity.region } : {}),
      ...(identity.availabilityZone !== undefined ? { availabilityZone: identity.availabilityZone } : {}),
      usage: resources,
      ...(gpuList !== undefined ? { gpus: gpuList } : {}),
      at: (deps.clock?.() ?? new Date()).toISOString(),
    };
    nc.publish(subject, JSON.stringify(heartbeat));
    return heartbeat;
  }

  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    const started = Date.now();
    try {
      await beat();
    } catch (err) {
      if (running) log.warn({ err }, "heartbeat failed; trying again next interval");
    }
    // Keep the rate: the time a sample took comes off the wait for the next one.
    if (running) timer = setTimeout(() => void loop(), Math.max(0, deps.intervalMs - (Date.now() - started)));
  };
  void loop();
  log.info({ node: identity.id, url: identity.url, subject, intervalMs: deps.intervalMs }, "node agent heartbeating");

  return {
    identity,
    beat,
    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}
