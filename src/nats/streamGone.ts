/**
 * A stream the registry reads or writes that no longer exists: deleted outside the registry
 * (an open server lets any client do it). Said as such, at once, rather than as a timeout or an
 * internal error; the storage guard logs it and says how to recover (src/app/storage.ts).
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import { RegistryError } from "../contract/errors.ts";

export const isStreamNotFound = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;

export function streamGone(stream: string, cause?: unknown): RegistryError {
  return new RegistryError(
    503,
    `the stream ${stream} is gone: it was deleted outside the registry, which does not create it again over what the buckets hold; restore it from a backup (nats stream restore), or see the registry's log for how to start over`,
    { cause },
  );
}

/** Whether `stream` exists: false only when the server says it does not (undefined: it could not tell). */
export async function streamExists(js: JetStreamClient, stream: string): Promise<boolean | undefined> {
  try {
    await (await js.jetstreamManager(false)).streams.info(stream);
    return true;
  } catch (err) {
    return isStreamNotFound(err) ? false : undefined;
  }
}
