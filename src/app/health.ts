/**
 * Instance health in a registry process. The leases of a slug are kept by one live registry
 * process (rendezvous hashing on the slug over the members that answer `$SRV.PING`), which
 * alone hears their renewals; instances following their node are each handled by one process
 * (the same hashing on the instance id); active checks by the node agent of the node an
 * instance names, or else by one registry process.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Names } from "../contract/names.ts";
import { instanceKey } from "../contract/ids.ts";
import type { Node } from "../contract/schemas.ts";
import type { NodeAgent } from "../agent/agent.ts";
import type { registryCommands } from "../commands/registryCommands.ts";
import type { backgroundCommands } from "../commands/backgroundCommands.ts";
import { healthChecker } from "../health/checker.ts";
import { leases as startLeases } from "../health/leases.ts";
import { listenForRenewals } from "../health/renewals.ts";
import { leaseCensus } from "../health/leaseCensus.ts";
import type { Membership } from "../health/membership.ts";
import { nodeInstances } from "../health/nodeInstances.ts";
import type { KvMirror } from "../nats/kvMirror.ts";
import type { TelemetryWrites } from "../projector/telemetryWrites.ts";
import type { InstancesView } from "../readmodels/instances.ts";
import { nodeAgentChecks } from "./nodeAgent.ts";
import { watchLoopStalls } from "../loopStalls.ts";

/** The event loop checked every 50 ms; a beat 150 ms late is a stall, left out of a lease's silence. */
const LOOP_BEAT_MS = 50;
const LOOP_STALL_MS = 150;

export type InstanceHealth = ReturnType<typeof startHealth>;

export function startHealth(deps: {
  nc: NatsConnection;
  names: Names;
  telemetry: TelemetryWrites;
  instances: InstancesView;
  nodes: KvMirror<Node>;
  members: Membership;
  commands: ReturnType<typeof registryCommands>;
  background: ReturnType<typeof backgroundCommands>;
  agent: NodeAgent;
  config: Config;
  log: Logger;
  clock: () => Date;
  serviceId: () => string;
}) {
  const { nc, names, telemetry, instances, nodes, members, commands, background, agent, config, log } = deps;
  const owns = (id: string) => members.owns(id);
  const census = leaseCensus({ nc, subject: names.leaseCensus, selfId: deps.serviceId, members: () => members.members(), staleAfterMs: 3 * Math.max(config.healthTickMs, 1000), log });
  const stalls = watchLoopStalls({ beatMs: LOOP_BEAT_MS, stallMs: LOOP_STALL_MS });
  const leaseKeeper = startLeases({
    instances,
    commands: background,
    touch: telemetry.renewal,
    publishRenewal: (i) => nc.publish(names.leaseSubject(instanceKey(i.slug, i.id))),
    keepsSlug: (slug) => members.owns(`lease ${slug}`),
    hear: (slugs) => renewals.hear(slugs),
    census,
    protection: { share: config.expiryProtectionShare, windowMs: config.expiryProtectionWindowMs },
    recordEveryMs: config.leaseRecordEveryMs,
    tickMs: config.healthTickMs,
    log,
    deafMsSince: (sinceMs) => stalls.deafMsSince(sinceMs),
    clock: deps.clock,
  });
  const renewals = listenForRenewals({ nc, names, leases: leaseKeeper, log });
  const followers = nodeInstances({ instances: () => instances.onNodes(), nodes: () => nodes.values(), owns, commands: background, tickMs: config.healthTickMs, log });
  const replicaChecks = healthChecker({
    assigned: function* () {
      const nodeUrls = new Set([...nodes.values()].map((n) => n.url));
      for (const i of instances.checked()) if (i.check && (i.nodeUrl === undefined || !nodeUrls.has(i.nodeUrl)) && owns(i.id)) yield i;
    },
    current: (id) => instances.get(id),
    report: (r) => commands.recordCheck({ ...r, checkedBy: `registry ${deps.serviceId()}` }, {}).then(() => undefined),
    log,
  });
  const agentChecks = nodeAgentChecks(nc, names, agent, () => instances.checked(), (id) => instances.get(id), log);
  return {
    leases: leaseKeeper,
    renewals,
    stop() {
      for (const s of [renewals, census, leaseKeeper, followers, replicaChecks, agentChecks, stalls]) s.stop();
    },
  };
}
