/**
 * What nats-server says about this connection's place in it, so that a registry given a
 * policy can tell whether the server enforces accounts at all: whether the server requires
 * credentials (its INFO's auth_required), and which account the connection is in.
 * nats-server 2.9 has no $SYS.REQ.USER.INFO (added in 2.10); every account there imports
 * `$SYS.REQ.ACCOUNT.PING.STATZ`, whose answer names the asking account (tried on 2.9.10).
 */
import type { NatsConnection } from "@nats-io/transport-node";

export type ConnectionAccount = {
  /** The server lets no client in without credentials. */
  authRequired: boolean;
  /** The account the connection is in (`$G`: the global account, shared by every user not given one). */
  account?: string;
  /** Why the account is not known, when it is not. */
  unknownBecause?: string;
};

export const ACCOUNT_STATZ_SUBJECT = "$SYS.REQ.ACCOUNT.PING.STATZ";

export async function connectionAccount(nc: NatsConnection, timeoutMs = 2000): Promise<ConnectionAccount> {
  const authRequired = nc.info?.auth_required === true;
  try {
    const reply = await nc.request(ACCOUNT_STATZ_SUBJECT, "", { timeout: timeoutMs });
    const statz = (reply.json<{ data?: { account_statz?: { acc?: unknown }[] } }>().data?.account_statz ?? [])[0];
    if (typeof statz?.acc === "string" && statz.acc !== "") return { authRequired, account: statz.acc };
    return { authRequired, unknownBecause: `${ACCOUNT_STATZ_SUBJECT} answered without naming an account` };
  } catch (err) {
    return { authRequired, unknownBecause: `${ACCOUNT_STATZ_SUBJECT} got no answer (${(err as Error).message}); is the server's system account disabled?` };
  }
}
