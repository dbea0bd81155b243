/**
 * The registry's API as typed methods, for services written in TypeScript or JavaScript.
 * It speaks the same NATS subjects any other client does.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import type { ExpiryProtection, HealthStatus, NodeRef, NodeRefusal, PolicyReload, ServiceSummary } from "../contract/api.ts";
import { OPERATIONS, type OperationName, type ReplyOf, type RequestOf } from "../contract/operations.ts";
import { RegistryError } from "../contract/errors.ts";
import { instanceKey } from "../contract/ids.ts";
import { namesFor } from "../contract/names.ts";
import type {
  Definition,
  Instance,
  InstanceStatus,
  ListInstancesRequest,
  Node,
  RegisterInstanceRequest,
  SelectNodesRequest,
  HistoryEntry,
  HistoryRequest,
} from "../contract/schemas.ts";
import { discover, mirrorOfSlug, type Discovery, type DiscoveryOptions } from "./discovery.ts";
import type { RttBounds } from "./rtt.ts";
import { KeysFeed } from "./keysFeed.ts";
import { isKvDeletion, kvSubject } from "../nats/index.ts";
import { requester } from "./request.ts";
import { selfRegister, type SelfRegistration } from "./selfRegister.ts";

export type ClientOptions = {
  /** The registry's subject prefix (REGISTRY_PREFIX); default `registry`. */
  prefix?: string;
  /** How long to wait for each answer; default 5000 ms. */
  timeoutMs?: number;
  /** Where the client logs what it does on its own (re-registering, failed renewals); silent by default. */
  log?: Logger;
};

export class RegistryClient {
  readonly #request;
  readonly #names;
  readonly #log: Logger;

  constructor(
    readonly nc: NatsConnection,
    opts: ClientOptions = {},
  ) {
    this.#names = namesFor(opts.prefix ?? "registry");
    this.#request = requester(nc, this.#names.prefix, opts.timeoutMs ?? 5000);
    this.#log = opts.log ?? pino({ level: "silent" });
  }

  // ------------------------------------------------------------ definitions

  async saveDefinition(definition: Definition): Promise<Definition> {
    return (await this.#call("saveDefinition", { definition })).definition;
  }
  async getDefinition(id: string): Promise<Definition> {
    return (await this.#call("getDefinition", { id })).definition;
  }
  /** Every definition, in id order, fetched a page at a time; `asOf` gives them as they were then. */
  async listDefinitions(opts: { asOf?: string | number } = {}): Promise<Definition[]> {
    return this.#everyPage("listDefinitions", (p) => p.definitions, { ...opts });
  }
  async removeDefinition(id: string): Promise<void> {
    await this.#call("removeDefinition", { id });
  }

  // ------------------------------------------------------------ instances

  async registerInstance(req: RegisterInstanceRequest): Promise<Instance> {
    return (await this.registration(req)).instance;
  }
  /** A registration's whole reply: the instance, what it did (`outcome`, `changed`), and `movedFrom` when it took the instance from another slug. */
  async registration(req: RegisterInstanceRequest): Promise<ReplyOf<"registerInstance">> {
    return this.#call("registerInstance", req);
  }
  async getInstance(id: string): Promise<Instance> {
    return (await this.#call("getInstance", { id })).instance;
  }
  /** Every instance that passes the filter, in id order, fetched a page at a time (one page when `limit` is given). */
  async listInstances(filter: ListInstancesRequest = {}): Promise<Instance[]> {
    if (filter.limit !== undefined) return (await this.listInstancePage(filter)).instances;
    return this.#everyPage("listInstances", (p) => p.instances, { ...filter, limit: 1000 });
  }
  /** One page: at most `limit` instances after `after`; `next` is the `after` of the next page, absent on the last. */
  async listInstancePage(filter: ListInstancesRequest): Promise<{ instances: Instance[]; next?: string; versions?: Record<string, number> }> {
    return this.#call("listInstances", filter);
  }
  async removeInstance(id: string): Promise<void> {
    await this.#call("removeInstance", { id });
  }
  async reportStatus(id: string, status: InstanceStatus, details?: string, by?: "instance" | "operator"): Promise<Instance> {
    const body = { id, status, ...(details !== undefined ? { details } : {}), ...(by ? { by } : {}) };
    return (await this.#call("reportStatus", body)).instance;
  }
  /** Renews a lease and answers with the instance (a request); selfRegister renews with publishRenewal instead. */
  async renewLease(id: string): Promise<Instance> {
    return (await this.#call("renewLease", { id })).instance;
  }
  /**
   * Renews a lease by a publish on the instance's lease subject: no request, no answer, nothing
   * stored by the registry. A renewal of an instance the registry no longer has renews nothing:
   * watch the instance's entry (whenRemoved) to know.
   */
  publishRenewal(instance: Pick<Instance, "slug" | "id">): void {
    this.nc.publish(this.#names.leaseSubject(instanceKey(instance.slug, instance.id)));
  }
  /** Calls `removed` when the instance's entry leaves the instances bucket (its lease expired, or someone removed it). */
  whenRemoved(instance: Pick<Instance, "slug" | "id">, removed: () => void): { stop(): void } {
    const sub = this.nc.subscribe(kvSubject(this.#names.buckets.instance, instanceKey(instance.slug, instance.id)), {
      callback: (err, m) => {
        if (!err && isKvDeletion(m.headers)) removed();
      },
    });
    return { stop: () => sub.unsubscribe() };
  }

  // ------------------------------------------------------------ nodes and health

  /** Every node (or those of `ids`), in id order, fetched a page at a time; `asOf` gives them as they were then. */
  async listNodes(ids?: string[], opts: { asOf?: string | number } = {}): Promise<Node[]> {
    return this.#everyPage("listNodes", (p) => p.nodes, { ...(ids ? { ids } : {}), ...opts });
  }
  async getNode(ref: NodeRef): Promise<Node> {
    return (await this.#call("getNode", ref)).node;
  }
  async selfNode(): Promise<Node> {
    return (await this.#call("selfNode", {})).node;
  }
  async removeNode(ref: NodeRef): Promise<void> {
    await this.#call("removeNode", ref);
  }
  async selectNodes(requirements: SelectNodesRequest = {}): Promise<Node[]> {
    return (await this.#call("selectNodes", requirements)).nodes;
  }
  /** The nodes that fit, and each node that does not with the requirements it fails. */
  async explainPlacement(requirements: SelectNodesRequest): Promise<{ nodes: Node[]; refused: NodeRefusal[] }> {
    const { nodes, refused = [] } = await this.#call("selectNodes", { ...requirements, explain: true });
    return { nodes, refused };
  }
  /** Every service (slug) that has instances, in slug order, with its instances counted in all and by status. */
  async listServices(): Promise<ServiceSummary[]> {
    return this.#everyPage("listServices", (p) => p.services, { limit: 1000 });
  }
  /** One page of history: an entity's events (entity and id), or every change from `since` (the audit log). */
  async history(req: HistoryRequest): Promise<{ events: HistoryEntry[]; next?: number }> {
    return this.#call("history", req);
  }
  async healthStatus(): Promise<HealthStatus> {
    return this.#call("healthStatus", {});
  }
  async setExpiryProtection(enabled: boolean): Promise<ExpiryProtection> {
    return (await this.#call("switchProtection", { enabled })).protection;
  }
  /** Has every registry process read its policy file again (an admin's request): what each process said. */
  async reloadPolicy(): Promise<PolicyReload[]> {
    return (await this.#call("reloadPolicy", {})).processes;
  }

  /** Follows `next` from page to page (a page ends at `limit` or before a reply outgrows the server's max_payload). */
  async #everyPage<K extends "listDefinitions" | "listInstances" | "listNodes" | "listServices", T>(name: K, items: (page: ReplyOf<K>) => T[], body: RequestOf<K>): Promise<T[]> {
    const all: T[] = [];
    for (let after = body.after; ; ) {
      const page = await this.#call(name, { ...body, ...(after !== undefined ? { after } : {}) });
      all.push(...items(page));
      if (page.next === undefined) return all;
      after = page.next;
    }
  }

  /** One operation, as its row in the operation table says: its subject, and a Nats-Msg-Id (and one retry) when it changes state. */
  #call<K extends OperationName>(name: K, req: RequestOf<K>): Promise<ReplyOf<K>> {
    const op = OPERATIONS[name];
    return this.#request<ReplyOf<K>>(op.subject, req, { write: op.changes });
  }

  // ------------------------------------------------------------ for services

  /**
   * A live view of a service's instances, kept current by a KV watch; `stop()` it when done.
   * Its round-trip bounds are `opts.rtt`, else the softRttMs/hardRttMs of the definition whose
   * id is the slug (none when there is no such definition or it may not be read).
   */
  async discover(slug: string, opts: DiscoveryOptions = {}): Promise<Discovery> {
    const rtt = opts.rtt ?? (await this.#rttBoundsOf(slug));
    const options = { ...opts, ...(rtt ? { rtt } : {}) };
    const bucket = this.#names.buckets.instance;
    const jsm = await jetstreamManager(this.nc).catch(() => undefined);
    if (jsm) return discover(slug, mirrorOfSlug({ js: jetstream(this.nc), jsm, bucket, slug, log: this.#log }), options);
    // Outside the registry's account: the slug's live changes, and its current state listed with versions.
    const listPage = (after: string | undefined) => this.listInstancePage({ slug, limit: 1000, withVersions: true, ...(after !== undefined ? { after } : {}) });
    return discover(slug, new KeysFeed(this.nc, bucket, `${slug}.>`, listPage, this.#log), options);
  }

  async #rttBoundsOf(slug: string): Promise<RttBounds | undefined> {
    const requirements = await this.getDefinition(slug).then(
      (d) => d.requirements,
      (err: unknown) => {
        if (!(err instanceof RegistryError)) throw err;
        // No definition (404), none it may read (403), or the registry away: discovery works from the bucket alone.
        if (err.code >= 500) this.#log.warn({ slug, err: err.message }, "the service's round-trip bounds are unknown; discovering without them");
        return undefined;
      },
    );
    const { softRttMs, hardRttMs } = requirements ?? {};
    if (softRttMs === undefined && hardRttMs === undefined) return undefined;
    return { ...(softRttMs !== undefined ? { softMs: softRttMs } : {}), ...(hardRttMs !== undefined ? { hardMs: hardRttMs } : {}) };
  }

  /**
   * Registers this service's instance with a lease (`ttlSeconds`, default 15), renews it by
   * publishes (ttl/3 apart) until `stop()`, and deregisters it then. It registers again when the
   * instance leaves the bucket, and checks with a renewal request after every reconnect.
   */
  selfRegister(req: RegisterInstanceRequest): Promise<SelfRegistration> {
    return selfRegister(
      {
        registerInstance: (r) => this.registerInstance(r),
        renewLease: (id) => this.renewLease(id),
        publishRenewal: (i) => this.publishRenewal(i),
        whenRemoved: (i, removed) => this.whenRemoved(i, removed),
        whenReconnected: (reconnected) => {
          let stopped = false;
          void (async () => {
            for await (const s of this.nc.status()) {
              if (stopped) break;
              if (s.type === "reconnect") reconnected();
            }
          })();
          return { stop: () => void (stopped = true) };
        },
        reportStatus: (id, status, details) => this.reportStatus(id, status, details),
        removeInstance: (id) => this.removeInstance(id),
      },
      req,
      this.#log,
    );
  }
}
