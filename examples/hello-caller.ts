/**
 * A caller that discovers `hello-svc` and balances over its healthy instances: the
 * instance list is a live KV watch, so new, removed and failing instances are followed
 * as they happen, without asking the registry on every call.
 *
 *   node --import tsx examples/hello-caller.ts [CALLS]       (NATS_URL as for the registry)
 */
import { connect } from "@nats-io/transport-node";
import { RegistryClient } from "@nats-registry/registry";

const calls = Number(process.argv[2] ?? 5);
const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
const hello = await new RegistryClient(nc).discover("hello-svc");
// Started beside the service (as the README does), the caller may be first: it waits a while.
if (!(await hello.waitForInstances(10_000))) process.stdout.write("no hello-svc instance registered within 10 s; start examples/hello-service.ts\n");

for (let n = 1; n <= calls; n++) {
  const target = hello.pick();
  if (!target) {
    process.stdout.write("no hello-svc instance is registered\n");
    break;
  }
  const answer = await fetch(target.url).then((r) => r.text(), (err: Error) => `failed: ${err.message}\n`);
  process.stdout.write(`call ${n} -> ${target.url} (${target.status}): ${answer}`);
}
hello.stop();
await nc.close();
