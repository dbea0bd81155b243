/**
 * The event store: one JetStream stream, one subject per entity. An entity's version is
 * the sequence of its latest event; appends name the version they were decided on
 * (`Nats-Expected-Last-Subject-Sequence`, 0 for a new entity), so a concurrent change
 * makes the append fail instead of being overwritten.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { RegistryError } from "../contract/errors.ts";
import type { RegistryEvent } from "../domain/events.ts";

export type EventEnvelope = RegistryEvent & { metadata: { at: string; requestId?: string } };
export type StoredEvent = { envelope: EventEnvelope; seq: number; subject: string };

/** The entity changed since it was read: decide again. */
export class VersionConflict extends Error {
  constructor(subject: string, expectedSeq: number) {
    super(`${subject} is no longer at version ${expectedSeq}`);
    this.name = "VersionConflict";
  }
}

export type AppendResult = { seq: number; duplicate: boolean };

export type EventStore = {
  readLatest(subject: string): Promise<StoredEvent | null>;
  append(subject: string, envelope: EventEnvelope, expectedSeq: number): Promise<AppendResult>;
};


export function unavailable(what: string, cause: unknown): RegistryError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new RegistryError(503, `${what} failed (${reason}); check that nats-server is up with JetStream enabled and retry`, { cause });
}

export function natsEventStore(js: JetStreamClient, jsm: JetStreamManager, stream: string): EventStore {
  return {
    async readLatest(subject) {
      let msg;
      try {
        msg = await jsm.direct.getMessage(stream, { last_by_subj: subject });
      } catch (err) {
        throw unavailable(`reading ${subject} from ${stream}`, err);
      }
      if (msg === null) return null;
      return { envelope: msg.json<EventEnvelope>(), seq: msg.seq, subject };
    },

    async append(subject, envelope, expectedSeq) {
      const requestId = envelope.metadata.requestId;
      try {
        const ack = await js.publish(subject, JSON.stringify(envelope), {
          expect: { lastSubjectSequence: expectedSeq },
          ...(requestId ? { msgID: requestId } : {}),
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) throw new VersionConflict(subject, expectedSeq);
        throw unavailable(`appending to ${stream}`, err);
      }
    },
  };
}
