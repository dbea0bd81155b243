/**
 * Who sent a message, as nats-server says: the `Nats-Request-Info` header it sets on messages
 * imported from another account with `share: true`. Nobody can set it across accounts; junk
 * can only come from inside the registry's own account.
 */
import type { Caller } from "../contract/api.ts";
import { RequestInfo } from "../contract/schemas.ts";
import { reader } from "../contract/validate.ts";

const readRequestInfo = reader(RequestInfo);

/** The caller the header names; undefined without one; "unreadable" for one nats-server did not set. */
export function callerOfRequestInfo(info: string | undefined): Caller | undefined | "unreadable" {
  if (!info) return undefined;
  let read;
  try {
    read = readRequestInfo(JSON.parse(info));
  } catch {
    return "unreadable";
  }
  if (!read.ok) return "unreadable";
  const { acc, user, name } = read.value;
  return { account: acc, ...(user ? { user } : {}), ...(name ? { name } : {}) };
}
