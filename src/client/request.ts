/**
 * One request to the registry: JSON in, JSON out; a reply with the micro error headers
 * becomes a RegistryError with the registry's code, message and details. A write carries
 * a `Nats-Msg-Id`, so when it times out it is sent once more with the same id and the
 * registry writes it once.
 */
import { RequestError, TimeoutError, headers, nuid, type NatsConnection } from "@nats-io/transport-node";
import { RegistryError, type ErrorCode, type ErrorDetail, type ErrorHint } from "../contract/errors.ts";

export type Requester = <T>(subject: string, body?: object, opts?: { write?: boolean }) => Promise<T>;

export function requester(nc: NatsConnection, prefix: string, timeoutMs: number): Requester {
  return async <T>(subject: string, body: object = {}, opts: { write?: boolean } = {}) => {
    const full = `${prefix}.${subject}`;
    const h = headers();
    if (opts.write) h.set("Nats-Msg-Id", nuid.next());
    const payload = JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await nc.request(full, payload, { timeout: timeoutMs, headers: h });
        const code = reply.headers?.get("Nats-Service-Error-Code");
        if (code) {
          const parsed = reply.data.length ? reply.json<{ error?: { message?: string; details?: ErrorDetail[]; hint?: ErrorHint } }>() : {};
          const message = parsed.error?.message ?? reply.headers?.get("Nats-Service-Error") ?? `failed with ${code}`;
          throw RegistryError.fromWire(Number(code) as ErrorCode, { ...parsed.error, message });
        }
        return reply.json<T>();
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        if (err instanceof RequestError && err.isNoResponders()) {
          throw new RegistryError(503, `no registry answers on ${full}; is one running (make run) with the prefix "${prefix}"?`, { cause: err });
        }
        const timedOut = err instanceof TimeoutError || (err as Error).cause instanceof TimeoutError;
        if (timedOut && opts.write && attempt === 1) continue;
        if (timedOut) {
          throw new RegistryError(503, `the registry did not answer ${full} within ${timeoutMs} ms; check that it is running and retry`, { cause: err });
        }
        throw new RegistryError(503, `${full} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  };
}
