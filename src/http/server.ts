/**
 * The HTTP face (REGISTRY_HTTP_ADDR): the same operations as the NATS service, on the routes
 * of routes.ts, with the same bodies and the same errors as JSON (`{error: {code, message,
 * details}}`, the HTTP status being the code). Built on Fastify; bodies are parsed by the
 * registry's own rule (contract/validate.ts), so both faces refuse the same input the same way.
 * Also `GET /healthz` (the process answers) and `GET /readyz` (NATS connected, read models
 * caught up).
 */
import { readFile } from "node:fs/promises";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { Logger } from "pino";
import type { Caller, RegistryApi, RequestContext } from "../contract/api.ts";
import { RegistryError, errorToReply, notFound, requestTooLarge } from "../contract/errors.ts";
import { callOperation } from "../contract/operations.ts";
import { parseRequestBody } from "../contract/validate.ts";
import type { ChangeFeed, FeedEvent } from "./feed.ts";
import { openApiDocument } from "./openapi.ts";
import { API_PREFIX, fromQuery, PROMETHEUS_TARGETS, routes, type HttpRequestParts } from "./routes.ts";
import { targetGroups } from "./prometheus.ts";
import { ListInstancesRequest, type Instance } from "../contract/schemas.ts";
import type { WatcherBudget } from "./watchers.ts";
import { SECURITY_HEADERS, refuseContentType, refuseHost, refuseOrigin, type ServedHosts } from "./guard.ts";

export type HttpFace = { url: string; stop(): Promise<void> };

export type HttpDeps = {
  api: RegistryApi;
  host: string;
  port: number;
  /** The host names this face answers (REGISTRY_HTTP_HOSTS); a request naming another gets 421. */
  hosts: ServedHosts;
  maxRequestBytes: number;
  /** The registry's version, in the OpenAPI document. */
  version: string;
  log: Logger;
  /**
   * Who calls, from the request's Authorization header: undefined without a policy (everyone
   * may do everything); with one, the caller its bearer token stands for, or a 401.
   */
  authenticate: (authorization: string | undefined) => Caller | undefined;
  /** Resolves once the read models are caught up; rejects with why not. */
  ready: () => Promise<void>;
  connected: () => boolean;
  /** Told of every operation answered: ok or the error code, and how long it took. */
  observe?: (operation: string, outcome: string, seconds: number) => void;
  /** `GET /registry-svc/watch`: the live feed, what of it a caller may see, and what watchers may hold. */
  watch?: {
    feed: ChangeFeed;
    viewOf: (caller: Caller | undefined) => (e: FeedEvent) => FeedEvent | undefined;
    budget: WatcherBudget;
    /** While the process starts, why it takes no watcher yet (its read models are loading: every entry would be a change). */
    starting?: () => string | undefined;
  };
  /** `GET /metrics`: the Prometheus text. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** `GET /registry-svc/prometheus/targets`: the node id of a node URL, for `__meta_registry_node`. */
  nodeIdOfUrl?: (url: string) => string | undefined;
};

const READY_DEADLINE_MS = 2000;
const PROMETHEUS_FILTERS: readonly string[] = PROMETHEUS_TARGETS.filters;
const KEEP_ALIVE_MS = 15_000;
/** Seconds a watcher refused for want of a place is told to wait (Retry-After). */
const WATCH_RETRY_AFTER_S = 5;

/** An error's hint as this face says it: the route of the operation, not its NATS subject. */
function inHttpTerms(err: RegistryError): RegistryError {
  const hint = err.hint;
  const route = hint && routes.find((r) => r.subject === hint.operation);
  if (!hint || !route) return err;
  return new RegistryError(err.code, `${err.summary}; ${hint.text} with ${route.method} ${API_PREFIX}${route.path}`, err.details ? { details: err.details } : {});
}

function errorReply(err: unknown, log: Logger, route: string): { status: number; body: unknown } {
  const e = errorToReply(err, log, { route });
  return { status: e.code, body: inHttpTerms(e).toJSON() };
}

export async function startHttp(deps: HttpDeps): Promise<HttpFace> {
  const { api, log } = deps;
  // forceCloseConnections: stopping must not wait for watchers, whose streams never end by themselves.
  const app: FastifyInstance = Fastify({ bodyLimit: deps.maxRequestBytes, logger: false, forceCloseConnections: true });

  // A JSON body reaches the registry's own parsing as text; no other content type is taken (guard.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => done(null, text));

  const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
  const refuse = (reply: FastifyReply, err: RegistryError, url: string) => {
    const { status, body } = errorReply(err, log, url);
    return reply.code(status).send(body);
  };
  // Before anything else, on every request: the security headers (set on the raw response, so
  // that the hijacked watch stream has them too), then whether the host and the origin are served.
  app.addHook("onRequest", async (req, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
    const refused = refuseHost(req.headers.host, deps.hosts) ?? refuseOrigin({ origin: req.headers.origin, host: req.headers.host, fetchSite: header(req.headers["sec-fetch-site"]), fetchMode: header(req.headers["sec-fetch-mode"]) });
    if (refused) return refuse(reply, refused, req.url);
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    const status = err.statusCode === 413 || err.statusCode === 415 ? err.statusCode : (err.statusCode ?? 500) < 500 ? 400 : 500;
    const wrapped =
      status === 413
        ? requestTooLarge(deps.maxRequestBytes)
        : status === 415
          ? (refuseContentType({ method: req.method, contentType: req.headers["content-type"], hasBody: true, changesState: true }) ?? new RegistryError(415, err.message))
        : status === 400
          ? new RegistryError(400, `${err.message}; see GET ${API_PREFIX}/ for the routes`)
          : err;
    const { status: code, body } = errorReply(wrapped, log, req.url);
    void reply.code(code).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = errorReply(notFound(`no route ${req.method} ${req.url.split("?")[0]}; GET ${API_PREFIX}/ lists them`), log, req.url);
    void reply.code(status).send(body);
  });

  const openApi = openApiDocument(deps.version);
  app.get(`${API_PREFIX}/openapi.json`, () => openApi);
  app.get(`${API_PREFIX}/`, () => ({
    routes: [
      ...routes.map((r) => ({ method: r.method, path: `${API_PREFIX}${r.path}`, operation: r.subject })),
      { method: "GET", path: `${API_PREFIX}${PROMETHEUS_TARGETS.path}`, operation: PROMETHEUS_TARGETS.operation },
    ],
  }));

  for (const route of routes) {
    app.route({
      method: route.method,
      url: `${API_PREFIX}${route.path}`,
      onRequest: async (req, reply) => {
        const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
        const refused = refuseContentType({ method: req.method, contentType: req.headers["content-type"], hasBody, changesState: route.changes });
        if (refused) return refuse(reply, refused, route.path);
      },
      handler: async (req, reply) => {
        const started = performance.now();
        let outcome = "ok";
        try {
          const caller = deps.authenticate(req.headers.authorization);
          const parts: HttpRequestParts = {
            body: parseRequestBody(typeof req.body === "string" ? req.body : ""),
            query: req.query as Record<string, string | string[]>,
            params: req.params as Record<string, string>,
          };
          const idempotencyKey = req.headers["idempotency-key"];
          // A caller whose connection closes before its answer no longer waits: long work (time travel) stops.
          const gone = new AbortController();
          reply.raw.once("close", () => reply.raw.writableFinished || gone.abort());
          const ctx: RequestContext = {
            ...(typeof idempotencyKey === "string" && idempotencyKey !== "" ? { requestId: idempotencyKey } : {}),
            ...(caller ? { caller } : {}),
            via: "http",
            signal: gone.signal,
          };
          return await callOperation(api, route.operation, route.request(parts), ctx);
        } catch (err) {
          const { status, body } = errorReply(err, log, route.path);
          outcome = String(status);
          return reply.code(status).send(body);
        } finally {
          deps.observe?.(route.subject, outcome, (performance.now() - started) / 1000);
        }
      },
    });
  }

  // Prometheus's HTTP service discovery: instance.list, as the caller may read it, as target groups.
  app.get(`${API_PREFIX}${PROMETHEUS_TARGETS.path}`, async (req, reply) => {
    const started = performance.now();
    let outcome = "ok";
    try {
      const caller = deps.authenticate(req.headers.authorization);
      const query = req.query as Record<string, string | string[]>;
      const unknown = Object.keys(query).filter((k) => !PROMETHEUS_FILTERS.includes(k));
      if (unknown.length > 0) throw new RegistryError(400, `unknown parameter ${unknown.join(", ")}: filter targets by ${PROMETHEUS_FILTERS.join(", ")}`);
      const filter = fromQuery(ListInstancesRequest, { ...(query.tag !== undefined ? { tags: query.tag } : {}), ...(query.slug !== undefined ? { slug: query.slug } : {}), ...(query.status !== undefined ? { status: query.status } : {}) });
      const ctx: RequestContext = caller ? { caller } : {};
      const instances: Instance[] = [];
      for (let after: string | undefined; ; ) {
        const page = await callOperation(api, "listInstances", { ...filter, limit: 1000, ...(after !== undefined ? { after } : {}) }, ctx);
        instances.push(...page.instances);
        if (page.next === undefined) break;
        after = page.next;
      }
      return targetGroups(instances, deps.nodeIdOfUrl ?? (() => undefined));
    } catch (err) {
      const { status, body } = errorReply(err, log, PROMETHEUS_TARGETS.path);
      outcome = String(status);
      return reply.code(status).send(body);
    } finally {
      deps.observe?.("prometheus.targets", outcome, (performance.now() - started) / 1000);
    }
  });

  const { watch } = deps;
  if (watch) {
    const { budget } = watch;
    // Each event is written to every watcher who may see it: serialised once, not once per watcher.
    const frames = new WeakMap<FeedEvent, string>();
    const frameOf = (e: FeedEvent) => {
      let frame = frames.get(e);
      if (frame === undefined) frames.set(e, (frame = `event: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`));
      return frame;
    };
    app.get(`${API_PREFIX}/watch`, (req, reply) => {
      let caller: Caller | undefined;
      try {
        caller = deps.authenticate(req.headers.authorization);
      } catch (err) {
        const { status, body } = errorReply(err, log, "/watch");
        return reply.code(status).send(body);
      }
      const starting = watch.starting?.();
      if (starting !== undefined) {
        const notYet = new RegistryError(503, `this registry process is ${starting}; retry in a few seconds`);
        return reply.code(503).header("retry-after", "2").send(notYet.toJSON());
      }
      const account = budget.admit();
      if (!account) {
        const max = budget.limits.maxWatchers;
        const full = new RegistryError(503, `too many watchers: ${max} are connected, the most this registry takes (REGISTRY_WATCHERS_MAX); retry in ${WATCH_RETRY_AFTER_S} s, or raise REGISTRY_WATCHERS_MAX`);
        return reply.code(503).header("retry-after", String(WATCH_RETRY_AFTER_S)).send(full.toJSON());
      }
      const view = watch.viewOf(caller);
      reply.hijack();
      const out = reply.raw;
      let unsubscribe = () => undefined as void;
      const gone = () => {
        unsubscribe();
        unsubscribe = () => undefined;
        clearInterval(keepAlive);
        account.leave();
      };
      // A watcher that does not read is cut off rather than buffered without end; EventSource reconnects.
      const write = (text: string) => {
        // Once a frame reaches the socket, what is left unread shrinks: the account follows it.
        out.write(text, () => account.buffered(out.writableLength));
        const reason = account.buffered(out.writableLength);
        if (reason) {
          account.cut(reason);
          log.info({ remote: req.socket.remoteAddress, unread: out.writableLength, reason }, "watcher cut off: it does not read what it is sent");
          gone();
          out.destroy();
        }
      };
      out.on("drain", () => account.buffered(out.writableLength));
      out.on("close", gone);
      const keepAlive = setInterval(() => write(": keep-alive\n\n"), KEEP_ALIVE_MS);
      out.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      write(": changes of instances, nodes and definitions, and events as they are appended\n\n");
      if (out.destroyed) return;
      unsubscribe = watch.feed.subscribe((e) => {
        const seen = view(e);
        if (seen) write(frameOf(seen));
      });
    });
  }

  // The dashboard: one page, its script and style inline, nothing from elsewhere.
  const dashboard = await readFile(new URL("./dashboard.html", import.meta.url), "utf8");
  app.get("/", (_req, reply) =>
    reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
      .send(dashboard),
  );

  app.get("/healthz", () => ({ status: "ok" }));
  // Browsers ask for it on every page: no icon, and no 404 in the log or the console.
  app.get("/favicon.ico", (_req, reply) => reply.code(204).send());
  const { metrics } = deps;
  if (metrics) {
    app.get("/metrics", async (_req, reply) => {
      const { contentType, body } = await metrics();
      return reply.type(contentType).send(body);
    });
  }
  app.get("/readyz", async (_req, reply) => {
    if (!deps.connected()) return reply.code(503).send({ ready: false, reason: "not connected to NATS" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`read models not caught up within ${READY_DEADLINE_MS} ms`)), READY_DEADLINE_MS)));
    try {
      await Promise.race([deps.ready(), deadline]);
      return { ready: true };
    } catch (err) {
      return reply.code(503).send({ ready: false, reason: (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
  });

  await app.listen({ host: deps.host, port: deps.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : deps.port;
  const host = deps.host.includes(":") ? `[${deps.host}]` : deps.host;
  return { url: `http://${host}:${port}`, stop: () => app.close() };
}
