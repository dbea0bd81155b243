/**
 * The event store: one JetStream stream, one subject per entity. An entity's version is
 * the sequence of its latest event; appends name the version they were decided on
 * (`Nats-Expected-Last-Subject-Sequence`, 0 for a new entity), so a concurrent change
 * makes the append fail instead of being overwritten.
 *
 * Events read back are untrusted: when an entity's latest event cannot be read, its state
 * is that of its latest readable event (or none), still at the version of the latest one,
 * so the entity stays writable and the unreadable event is skipped, logged and counted.
 */
import type { JetStreamClient, StreamConfig } from "@nats-io/jetstream";
import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Names } from "../contract/names.ts";
import { RegistryError } from "../contract/errors.ts";
import type { Unreadable } from "../unreadable.ts";
import { hardCapBytes, type Capacity } from "./capacity.ts";
import { streamExists, streamGone } from "../nats/streamGone.ts";
import { StreamApiError, WRONG_LAST_SEQUENCE, type StreamRequests } from "../nats/streamRequests.ts";
import type { EventEnvelope } from "./storedEvents.ts";
import { eventOf, readEvents } from "./readEvents.ts";

export type { EventEnvelope, EventMetadata } from "./storedEvents.ts";

/** An entity's latest event; `envelope` is its latest readable one, null when none can be read. */
export type StoredEvent = { envelope: EventEnvelope | null; seq: number; subject: string };

/** The entity changed since it was read: decide again. */
export class VersionConflict extends Error {
  constructor(subject: string, expectedSeq: number) {
    super(`${subject} is no longer at version ${expectedSeq}`);
    this.name = "VersionConflict";
  }
}

/** The event stream refuses appends: it is at its size limit, or its store is out of room. */
export class StreamFull extends RegistryError {
  constructor(stream: string, why: string, cause?: unknown) {
    super(503, `the event stream ${stream} takes no more events (${why}); nothing was written. Raise REGISTRY_EVENTS_MAX_BYTES (or remove what is no longer registered) or give nats-server's JetStream store more room, then retry`, { cause });
    this.name = "StreamFull";
  }
}

/** What the store adds to an event's subject and body: headers (ids, the compare-and-set) and its record. */
const STORED_OVERHEAD_BYTES = 160;

/** JetStream's "stream store failed" (JSStreamStoreFailedError): a stream at its limits refusing a message. */
const STREAM_STORE_FAILED = 10077;

/**
 * The event stream: one subject per entity, file storage, no deletes or purges. At most
 * `historyPerEntity` events are kept per entity (its latest, its whole state, always stays).
 * No age limit, and at `maxBytes` (REGISTRY_EVENTS_MAX_BYTES plus the reserve, capacity.ts) new
 * events are refused (`discard: new`), never old ones dropped, which may be the only event of
 * an entity. On nats-server 2.9.10 (test/limits.int.test.ts) an entity at its per-entity limit
 * still drops its own oldest event for a new one when the stream is at `maxBytes`.
 */
export function eventsStreamConfig(names: Names, historyPerEntity: number, maxBytes: number): Partial<StreamConfig> & { name: string } {
  return {
    name: names.eventsStream,
    description: "Registry events: the source of truth. One subject per entity.",
    subjects: [names.eventSubjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: historyPerEntity,
    max_msgs: -1,
    max_age: 0,
    max_bytes: maxBytes,
    discard: DiscardPolicy.New,
    allow_direct: true,
    deny_delete: true,
    deny_purge: true,
    duplicate_window: nanos(2 * 60_000),
  };
}

/**
 * The event stream's `max_bytes`: the callers' limit plus the reserve. A stream already past
 * that (made by an older version, or the limit was lowered) keeps a cap above what it holds:
 * nats-server 2.9 drops the oldest messages at once to fit a lowered `max_bytes`, whatever the
 * discard policy (test/limits.int.test.ts).
 */
export function eventsStreamMaxBytes(limitBytes: number, reserveBytes: number, current?: { bytes: number; maxBytes: number }): number {
  const cap = hardCapBytes(limitBytes, reserveBytes);
  if (current === undefined || current.bytes < cap) return cap;
  return current.maxBytes >= current.bytes ? current.maxBytes : current.bytes + reserveBytes; // stretched once, then kept
}

export type AppendResult = { seq: number; duplicate: boolean };

export type EventStore = {
  readLatest(subject: string): Promise<StoredEvent | null>;
  /** The latest readable event of `subject` before sequence `before`, or null. */
  latestReadableBefore(subject: string, before: number): Promise<EventEnvelope | null>;
  append(subject: string, envelope: EventEnvelope, expectedSeq: number, dedupeId?: string): Promise<AppendResult>;
};

export function unavailable(what: string, cause: unknown): RegistryError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new RegistryError(503, `${what} failed (${reason}); check that nats-server is up with JetStream enabled and retry`, { cause });
}

export function natsEventStore(
  js: JetStreamClient,
  requests: StreamRequests,
  stream: string,
  opts: { unreadable: Unreadable; capacity?: Pick<Capacity, "admitsCaller" | "appended">; reserve?: boolean },
): EventStore {
  const { unreadable, capacity } = opts;
  /** The registry's own loops write into the reserve past the callers' limit; the server's cap stops them. */
  const admitted = async () => opts.reserve === true || capacity === undefined || (await capacity.admitsCaller());
  async function latestReadableBefore(subject: string, before: number): Promise<EventEnvelope | null> {
    let found: EventEnvelope | null = null;
    for await (const { event, seq } of readEvents({ js, stream, unreadable }, subject, "all")) {
      if (seq >= before) break;
      found = event;
    }
    return found;
  }

  /** Why a read or an append failed: the stream is gone (a direct get of a missing stream only times out), or the server is unavailable. */
  async function failure(what: string, err: unknown): Promise<RegistryError> {
    return (await streamExists(js, stream)) === false ? streamGone(stream, err) : unavailable(what, err);
  }

  return {
    latestReadableBefore,

    async readLatest(subject) {
      let msg;
      try {
        msg = await requests.lastBySubject(stream, subject);
      } catch (err) {
        throw await failure(`reading ${subject} from ${stream}`, err);
      }
      if (msg === null) return null;
      const envelope = eventOf({ ...msg, subject }, stream, unreadable) ?? (await latestReadableBefore(subject, msg.seq));
      return { envelope, seq: msg.seq, subject };
    },

    async append(subject, envelope, expectedSeq, dedupeId) {
      if (!(await admitted())) throw new StreamFull(stream, "it is at REGISTRY_EVENTS_MAX_BYTES");
      const data = JSON.stringify(envelope);
      try {
        const ack = await requests.publish(subject, data, {
          expectLastSubjectSequence: expectedSeq,
          ...(dedupeId ? { msgId: dedupeId } : {}),
        });
        if (!ack.duplicate) capacity?.appended(subject.length + data.length + STORED_OVERHEAD_BYTES);
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (err instanceof StreamApiError && err.errCode === WRONG_LAST_SEQUENCE) throw new VersionConflict(subject, expectedSeq);
        if (err instanceof StreamApiError && err.errCode === STREAM_STORE_FAILED) throw new StreamFull(stream, err.message, err);
        throw await failure(`appending to ${stream}`, err);
      }
    },
  };
}

/** The store, telling `appended` of each event it appends (not of a retried request's duplicate): for metrics. */
export function observedStore(inner: EventStore, appended: (type: string) => void): EventStore {
  return {
    ...inner,
    async append(subject, envelope, expectedSeq, dedupeId) {
      const result = await inner.append(subject, envelope, expectedSeq, dedupeId);
      if (!result.duplicate) appended(envelope.type);
      return result;
    },
  };
}
