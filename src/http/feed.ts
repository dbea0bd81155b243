/**
 * The live feed behind `GET /registry-svc/watch`: every change the read models apply
 * (instances, nodes, definitions) and every event appended to the event stream, fanned out
 * to the connected watchers. The appended events come from an ordered consumer that runs only
 * while someone watches, so an unwatched registry pays nothing for it.
 */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Definition, HistoryEntry, Instance, Node } from "../contract/schemas.ts";
import type { Names } from "../contract/names.ts";
import { historyEntryOf } from "../eventstore/history.ts";
import { eventOf } from "../eventstore/readEvents.ts";
import type { Unreadable } from "../unreadable.ts";
import type { KvMirror } from "../nats/kvMirror.ts";

export type FeedEvent =
  /** `previousStatus`: the status the entry at this key had before (absent: it had none), so that a watcher keeps counts by status without reading every instance. */
  | { kind: "instance"; key: string; slug: string | undefined; instance: Instance | null; previousStatus?: Instance["status"] }
  | { kind: "node"; key: string; node: Node | null }
  | { kind: "definition"; key: string; definition: Definition | null }
  | ({ kind: "appended"; subject: string } & HistoryEntry);

export type ChangeFeed = { subscribe(listener: (e: FeedEvent) => void): () => void };

export function changeFeed(deps: {
  js: JetStreamClient;
  names: Names;
  definitions: KvMirror<Definition>;
  instances: KvMirror<Instance>;
  nodes: KvMirror<Node>;
  unreadable: Unreadable;
  log: Logger;
}): ChangeFeed {
  const listeners = new Set<(e: FeedEvent) => void>();
  const emit = (e: FeedEvent) => {
    for (const l of listeners) l(e);
  };
  deps.instances.onChange((key, instance, previous) => listeners.size && emit({ kind: "instance", key, slug: (instance ?? previous)?.slug, instance, ...(previous ? { previousStatus: previous.status } : {}) }));
  deps.nodes.onChange((key, node) => listeners.size && emit({ kind: "node", key, node }));
  deps.definitions.onChange((key, definition) => listeners.size && emit({ kind: "definition", key, definition }));

  let stopAppended: (() => void) | undefined;
  async function followAppended(): Promise<void> {
    const consumer = await deps.js.consumers.get(deps.names.eventsStream, { filter_subjects: deps.names.eventSubjects, deliver_policy: DeliverPolicy.New });
    const messages = await consumer.consume({
      callback: (m) => {
        const e = eventOf(m, deps.names.eventsStream, deps.unreadable);
        if (!e) return;
        // As history shows it (from -> to, reason, caller), so that the feed and the history read alike.
        emit({ kind: "appended", subject: m.subject, ...historyEntryOf(e, m.seq, m.subject, deps.names) });
      },
    });
    stopAppended = () => void messages.stop();
    if (listeners.size === 0) {
      stopAppended(); // the last watcher left while it started
      stopAppended = undefined;
    }
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1 && !stopAppended) {
        stopAppended = () => undefined; // starting
        followAppended().catch((err: unknown) => {
          stopAppended = undefined;
          deps.log.warn({ err }, "the watch feed cannot follow the event stream; changes of the read models still flow");
        });
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          stopAppended?.();
          stopAppended = undefined;
        }
      };
    },
  };
}
