/**
 * The two JetStream requests on the write path, publish-with-ack and direct get of a
 * subject's last message, sent over one reply subscription per connection.
 *
 * nats.js's `request` builds two or three `Error`s per request (a stack trace captured up
 * front for its async traces and timeout, and one more when it cancels a request already
 * answered), a timer and a `Promise.race`: measured at about a sixth of the registry's CPU
 * under a registration load. Here a request is a map entry and one shared deadline sweep.
 * The wire is JetStream's own: a publish to a stream's subject answered by a PubAck, and
 * `$JS.API.DIRECT.GET.<stream>.<subject>` answered by the message or a 404 status.
 */
import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";

/** What JetStream refused, with its error code (`err_code`, e.g. 10071 wrong last sequence). */
export class StreamApiError extends Error {
  constructor(
    readonly errCode: number,
    readonly status: number,
    description: string,
  ) {
    super(description);
    this.name = "StreamApiError";
  }
}

/** JetStream's "wrong last sequence": the compare-and-set of an append or a KV write lost. */
export const WRONG_LAST_SEQUENCE = 10071;

export type PubAck = { stream: string; seq: number; duplicate: boolean };

/** A stream's message as a direct get returns it. */
export type DirectMsg = { seq: number; subject: string; data: Uint8Array; header: MsgHdrs | undefined; json<T = unknown>(): T };

export type PublishOptions = {
  /** The compare-and-set: the subject's last sequence must be this (0: no message yet). */
  expectLastSubjectSequence?: number;
  /** JetStream's de-duplication id (`Nats-Msg-Id`). */
  msgId?: string;
  /** Headers stored with the message (the compare-and-set and id are added to them). */
  headers?: MsgHdrs;
};

export type StreamRequests = {
  publish(subject: string, data: string | Uint8Array | undefined, opts?: PublishOptions): Promise<PubAck>;
  /** The last message on `subject` in `stream`, or null when it has none. */
  lastBySubject(stream: string, subject: string): Promise<DirectMsg | null>;
};

const TIMEOUT_MS = 5000;
const SWEEP_MS = 250;
const decoder = new TextDecoder();

type Pending = { resolve: (m: Msg) => void; reject: (err: Error) => void; deadline: number; what: string };

const ofConnection = new WeakMap<NatsConnection, StreamRequests>();

/** The connection's stream requests (made on first use: one reply subscription per connection). */
export function streamRequestsOf(nc: NatsConnection): StreamRequests {
  let requests = ofConnection.get(nc);
  if (!requests) ofConnection.set(nc, (requests = streamRequests(nc)));
  return requests;
}

/** Stream requests on their own reply subscription; `streamRequestsOf` shares one per connection. */
export function streamRequests(nc: NatsConnection, timeoutMs = TIMEOUT_MS): StreamRequests {
  const prefix = `${createInbox()}.`;
  const pending = new Map<string, Pending>();
  let next = 0;
  let sweeper: ReturnType<typeof setInterval> | undefined;

  nc.subscribe(`${prefix}*`, {
    callback: (err, m) => {
      if (err) return failAll(err);
      const token = m.subject.substring(prefix.length);
      const p = pending.get(token);
      if (!p) return; // answered after its deadline
      pending.delete(token);
      p.resolve(m);
    },
  });
  void nc.closed().then(() => failAll(new Error("the NATS connection is closed")));

  function failAll(err: Error): void {
    for (const p of pending.values()) p.reject(new Error(`${p.what} failed: ${err.message}`, { cause: err }));
    pending.clear();
  }

  /** One timer for every request in flight: checks deadlines while there are any. */
  function sweep(): void {
    const now = Date.now();
    for (const [token, p] of pending) {
      if (p.deadline > now) continue;
      pending.delete(token);
      p.reject(new Error(`${p.what} timed out after ${timeoutMs} ms`));
    }
    if (pending.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  function request(what: string, subject: string, data: string | Uint8Array | undefined, headers?: MsgHdrs): Promise<Msg> {
    const token = (next++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs, what });
      sweeper ??= setInterval(sweep, SWEEP_MS).unref();
      try {
        nc.publish(subject, data, { reply: prefix + token, ...(headers ? { headers } : {}) });
      } catch (err) {
        pending.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** A status reply (no data, a code in the header line): 503 means nothing listens on the subject. */
  const statusOf = (m: Msg) => (m.headers?.hasError ? m.headers.code : 0);

  return {
    async publish(subject, data, o = {}) {
      let h = o.headers;
      if (o.expectLastSubjectSequence !== undefined || o.msgId !== undefined) {
        h ??= natsHeaders();
        if (o.expectLastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(o.expectLastSubjectSequence));
        if (o.msgId !== undefined) h.set("Nats-Msg-Id", o.msgId);
      }
      const m = await request(`publishing to ${subject}`, subject, data, h);
      if (statusOf(m) === 503) throw new Error(`no stream takes ${subject} (JetStream is not enabled, or the stream is missing)`);
      const ack = JSON.parse(decoder.decode(m.data)) as { stream?: string; seq?: number; duplicate?: boolean; error?: { code: number; err_code: number; description: string } };
      if (ack.error) throw new StreamApiError(ack.error.err_code, ack.error.code, ack.error.description);
      if (!ack.stream || typeof ack.seq !== "number") throw new Error(`publishing to ${subject}: not a JetStream acknowledgement`);
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
    },

    async lastBySubject(stream, subject) {
      const m = await request(`reading ${subject} from ${stream}`, `$JS.API.DIRECT.GET.${stream}.${subject}`, undefined);
      const status = statusOf(m);
      if (status === 404) return null;
      if (status !== 0) throw new Error(`reading ${subject} from ${stream}: ${status} ${m.headers?.description ?? ""}`.trim());
      const seq = Number(m.headers?.get("Nats-Sequence"));
      if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`reading ${subject} from ${stream}: not a direct get reply`);
      const data = m.data;
      return { seq, subject: m.headers?.get("Nats-Subject") || subject, data, header: m.headers, json: <T>() => JSON.parse(decoder.decode(data)) as T };
    },
  };
}
