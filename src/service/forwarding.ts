/**
 * Processes that hold a part (REGISTRY_SLUGS) answer what their part can answer and forward
 * the rest to a process that holds every slug, over an internal subject that only processes
 * holding every slug serve (one queue group). What is forwarded: lists of slugs they do not
 * hold (and of every slug), the services list, every operation on an instance they do not hold
 * (by id: its slug, which says who may touch it, is not known here), and registrations, which
 * need the one answer to "which instance holds this URL" that only a whole mirror gives. The call
 * is forwarded as it came, with the caller NATS named, and authorized where it is answered: the
 * internal subject is the registry account's own (not exported to callers' accounts).
 */
import { Svcm } from "@nats-io/services";
import { errors, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { RegistryError } from "../contract/errors.ts";
import type { RequestContext } from "../contract/api.ts";
import { callOperation, type OperationName, type RegistryApi, type ReplyOf } from "../contract/operations.ts";
import { HOLDS_EVERY_SLUG, type SlugScope } from "../domain/slugScope.ts";

const FORWARD_TIMEOUT_MS = 10_000;
const QUEUE = "registry-holds-every-slug";

/** The internal subject of a forwarded operation. */
const forwardSubject = (prefix: string, operation: string) => `${prefix}.internal.every-slug.${operation}`;

type Forwarded = { request: unknown; ctx: Pick<RequestContext, "requestId" | "caller" | "via"> };

/**
 * A process that holds part of the slugs: its API (authorized), answering locally what it holds
 * and forwarding the rest. `holds(id)`: whether its read model has the instance.
 */
export function partialApi(inner: RegistryApi, deps: { nc: NatsConnection; prefix: string; service: string; scope: SlugScope; holds: (id: string) => Promise<boolean> }): RegistryApi {
  const { nc, scope } = deps;

  async function forward<K extends OperationName>(operation: K, request: unknown, ctx: RequestContext): Promise<ReplyOf<K>> {
    const body: Forwarded = {
      request,
      ctx: {
        ...(ctx.requestId !== undefined ? { requestId: ctx.requestId } : {}),
        ...(ctx.caller ? { caller: ctx.caller } : {}),
        ...(ctx.via ? { via: ctx.via } : {}),
      },
    };
    let reply;
    try {
      reply = await nc.request(forwardSubject(deps.prefix, operation), JSON.stringify(body), { timeout: FORWARD_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof errors.NoRespondersError || (err instanceof Error && /no responders/i.test(err.message))) {
        throw new RegistryError(
          404,
          `this registry process holds only the instances of ${scope.describe()} (REGISTRY_SLUGS), and no process holding every slug is running to answer the rest. ${await holders(nc, deps.service)} Ask a process that holds the slug, or start one without REGISTRY_SLUGS`,
        );
      }
      throw new RegistryError(503, `forwarding ${operation} to a registry process that holds every slug failed (${(err as Error).message}); retry`, { cause: err });
    }
    const answer = reply.json<{ ok?: unknown } & Partial<ReturnType<RegistryError["toJSON"]>>>();
    if (answer.error) throw RegistryError.fromWire(answer.error.code, answer.error);
    return answer.ok as ReplyOf<K>;
  }

  // An operation on one instance: here when this process holds it, where it is held otherwise.
  const { holds } = deps;
  return {
    ...inner,
    getInstance: async (req, ctx) => ((await holds(req.id)) ? inner.getInstance(req, ctx) : forward("getInstance", req, ctx)),
    removeInstance: async (req, ctx) => ((await holds(req.id)) ? inner.removeInstance(req, ctx) : forward("removeInstance", req, ctx)),
    reportStatus: async (req, ctx) => ((await holds(req.id)) ? inner.reportStatus(req, ctx) : forward("reportStatus", req, ctx)),
    renewLease: async (req, ctx) => ((await holds(req.id)) ? inner.renewLease(req, ctx) : forward("renewLease", req, ctx)),
    recordCheck: async (req, ctx) => ((await holds(req.id)) ? inner.recordCheck(req, ctx) : forward("recordCheck", req, ctx)),
    listInstances: (req, ctx) => (req.asOf !== undefined || (req.slug !== undefined && scope.holds(req.slug)) ? inner.listInstances(req, ctx) : forward("listInstances", req, ctx)),
    listServices: (req, ctx) => (req.asOf !== undefined ? inner.listServices(req, ctx) : forward("listServices", req, ctx)),
    registerInstance: (req, ctx) => forward("registerInstance", req, ctx),
  };
}

/** Which processes hold what, from the micro protocol's `$SRV.INFO` (each says its slugs in its metadata). */
async function holders(nc: NatsConnection, service: string): Promise<string> {
  try {
    const found: string[] = [];
    for await (const info of await new Svcm(nc).client({ strategy: "timer", maxWait: 500 }).info(service)) found.push(`${info.id} holds ${(info.metadata?.slugs ?? HOLDS_EVERY_SLUG) === HOLDS_EVERY_SLUG ? "every slug" : info.metadata!.slugs}`);
    return found.length > 0 ? `Registry processes: ${found.sort().join("; ")}.` : "";
  } catch {
    return "";
  }
}

/** A process that holds every slug answers what partial processes forward, with its API as callers meet it (authorized), for the caller named. */
export function serveForwarded(deps: {
  nc: NatsConnection;
  prefix: string;
  api: RegistryApi;
  log: Logger;
  /**
   * Whether the caller a forwarded call names is believed: with a policy only the registry's own
   * account reaches the internal subject; an open registry names no caller, so none is taken.
   */
  callersNamed: () => boolean;
}): Subscription {
  const { nc, api, log } = deps;
  const prefixLength = forwardSubject(deps.prefix, "").length;
  return nc.subscribe(forwardSubject(deps.prefix, "*"), {
    queue: QUEUE,
    callback: (err, msg) => {
      if (err) return;
      const operation = msg.subject.slice(prefixLength) as OperationName;
      void (async () => {
        try {
          if (!FORWARDED.has(operation)) throw new RegistryError(400, `${operation} is not forwarded`);
          const body = msg.json<Forwarded>();
          const { requestId, caller, via } = body.ctx ?? {};
          const ctx: RequestContext = { ...(requestId !== undefined ? { requestId } : {}), ...(caller && deps.callersNamed() ? { caller } : {}), ...(via ? { via } : {}) };
          msg.respond(JSON.stringify({ ok: await callOperation(api, operation, body.request, ctx) }));
        } catch (e) {
          if (!(e instanceof RegistryError)) log.warn({ err: e, operation }, "a forwarded request failed");
          msg.respond(JSON.stringify((e instanceof RegistryError ? e : new RegistryError(500, (e as Error).message)).toJSON()));
        }
      })();
    },
  });
}

const FORWARDED = new Set<OperationName>(["getInstance", "removeInstance", "reportStatus", "renewLease", "recordCheck", "listInstances", "listServices", "registerInstance"]);
