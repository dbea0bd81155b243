/**
 * The NATS micro service `registry`: one endpoint per request subject, in the queue
 * group `registry` so that each request is answered by one registry process. Turns wire
 * bytes into requests and results or RegistryErrors into replies; knows nothing else.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import type { Logger } from "pino";
import type { RegistryApi, RequestContext } from "../contract/api.ts";
import { parseRequestBody } from "../contract/validate.ts";
import { callerOfRequestInfo } from "../nats/requestInfo.ts";
import { RegistryError, badRequest, errorToReply, requestTooLarge } from "../contract/errors.ts";
import type { Names } from "../contract/names.ts";
import { callOperation, operationRows, type OperationName } from "../contract/operations.ts";
import { publishedName } from "../contract/published.ts";
import { HOLDS_EVERY_SLUG } from "../domain/slugScope.ts";

export const SERVICE_NAME = "registry";
const decoder = new TextDecoder();

const parseBody = (data: Uint8Array) => parseRequestBody(decoder.decode(data));

/** The request's context: its id, and its caller as nats-server names it (nobody else can set that header across accounts). */
function contextOf(msg: ServiceMsg): RequestContext {
  const requestId = msg.headers?.get("Nats-Msg-Id") || undefined;
  const caller = callerOfRequestInfo(msg.headers?.get("Nats-Request-Info"));
  if (caller === "unreadable") throw badRequest("the Nats-Request-Info header is not the one nats-server sets; do not set it yourself");
  return { ...(requestId ? { requestId } : {}), ...(caller ? { caller } : {}), via: "nats" };
}

export async function startService(deps: {
  nc: NatsConnection;
  names: Names;
  api: RegistryApi;
  log: Logger;
  version: string;
  maxRequestBytes: number;
  /** The slugs this process holds (REGISTRY_SLUGS), in its service metadata, so that others know what it holds: `*` for every slug. */
  slugs?: string;
  /** Extra data in every endpoint's `$SRV.STATS` entry. */
  stats?: () => Promise<unknown>;
  /** Told of every request answered: its operation, ok or the error code, and how long it took. */
  observe?: (operation: string, outcome: string, seconds: number) => void;
}): Promise<Service> {
  const { nc, names, api, log, maxRequestBytes } = deps;

  async function answer(name: OperationName, subject: string, msg: ServiceMsg): Promise<void> {
    const started = performance.now();
    let outcome = "ok";
    try {
      if (msg.data.length > maxRequestBytes) {
        throw requestTooLarge(maxRequestBytes, msg.data.length);
      }
      const reply = JSON.stringify(await callOperation(api, name, parseBody(msg.data), contextOf(msg)));
      const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
      if (reply.length > maxPayload) {
        throw new RegistryError(413, `the reply is ${reply.length} bytes, over the NATS max_payload of ${maxPayload}; narrow it with filters, or page through it with limit and after`);
      }
      msg.respond(reply);
    } catch (err) {
      const e = errorToReply(err, log, { subject: msg.subject });
      outcome = String(e.code);
      msg.respondError(e.code, e.message, JSON.stringify(e.toJSON()));
    } finally {
      deps.observe?.(subject, outcome, (performance.now() - started) / 1000);
    }
  }

  const service = await new Svcm(nc).add({
    name: SERVICE_NAME,
    version: deps.version,
    description: "Service registry: definitions, instances and nodes",
    queue: SERVICE_NAME,
    metadata: { prefix: names.prefix, events: names.eventsStream, slugs: deps.slugs ?? HOLDS_EVERY_SLUG },
    ...(deps.stats ? { statsHandler: deps.stats } : {}),
  });
  const group = service.addGroup(names.prefix);
  for (const [name, op] of operationRows) {
    group.addEndpoint(op.subject.replace(".", "-"), {
      subject: op.subject,
      metadata: { request: publishedName(op.request) ?? "EmptyRequest", reply: publishedName(op.reply) ?? "" },
      handler: (err, msg) => {
        if (err) {
          log.error({ err, endpoint: op.subject }, "endpoint subscription failed");
          return;
        }
        void answer(name, op.subject, msg);
      },
    });
  }
  return service;
}
