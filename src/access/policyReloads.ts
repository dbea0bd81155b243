/**
 * Reading the policy again in every registry process at once. The process that takes an
 * admin's `policy.reload` asks them all on `names.policyReloads`, a subject only the registry's
 * own account can publish on (secure/nats.conf exports none of it), and answers with what each
 * said, so an operator neither hunts for PIDs nor wonders which process missed a SIGHUP.
 */
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { PolicyReload } from "../contract/api.ts";

export type PolicyReloads = {
  /** Asks every registry process to read its policy again; answers with each one's outcome. */
  reloadEverywhere(): Promise<{ processes: PolicyReload[] }>;
  stop(): void;
};

/** How long the asking process waits for the others' answers. */
const ANSWERS_WITHIN_MS = 2000;

export function policyReloads(deps: {
  nc: NatsConnection;
  subject: string;
  /** This process's micro service id, which `members()` lists. */
  selfId: () => string;
  /** The live registry processes; the asker stops waiting once this many have answered. */
  members: () => string[];
  /** Reads this process's policy again: the number of accounts it names, or throws why not. */
  reload: () => Promise<{ accounts: number }>;
  log: Logger;
}): PolicyReloads {
  const { nc, log } = deps;
  const encode = (r: PolicyReload) => JSON.stringify(r);
  const answer = async (msg: Msg) => {
    const me = { process: deps.selfId(), pid: process.pid };
    const said = await deps.reload().then(
      ({ accounts }): PolicyReload => ({ ...me, ok: true, accounts }),
      (err: Error): PolicyReload => ({ ...me, ok: false, error: err.message }),
    );
    if (msg.reply) nc.publish(msg.reply, encode(said));
  };
  const sub = nc.subscribe(deps.subject, { callback: (err, msg) => (err ? log.warn({ err }, "policy reload subscription failed") : void answer(msg)) });

  return {
    reloadEverywhere() {
      const inbox = createInbox();
      const processes: PolicyReload[] = [];
      return new Promise((resolve) => {
        const expected = Math.max(1, deps.members().length);
        const done = () => {
          clearTimeout(timer);
          answers.unsubscribe();
          resolve({ processes: processes.sort((a, b) => a.process.localeCompare(b.process)) });
        };
        const answers = nc.subscribe(inbox, {
          callback: (err, msg) => {
            if (err) return done();
            const said = readReload(msg.data);
            if (said) processes.push(said);
            else log.warn({ subject: deps.subject }, "a policy reload answer that cannot be read; skipped");
            if (processes.length >= expected) done();
          },
        });
        const timer = setTimeout(done, ANSWERS_WITHIN_MS);
        nc.publish(deps.subject, "", { reply: inbox });
      });
    },
    stop: () => sub.unsubscribe(),
  };
}

/** An answer as sent by `answer` above, or undefined: answers come over NATS and are read like any input. */
function readReload(data: Uint8Array): PolicyReload | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as Partial<PolicyReload>;
    if (typeof v.process !== "string" || typeof v.pid !== "number" || typeof v.ok !== "boolean") return undefined;
    return {
      process: v.process,
      pid: v.pid,
      ok: v.ok,
      ...(typeof v.accounts === "number" ? { accounts: v.accounts } : {}),
      ...(typeof v.error === "string" ? { error: v.error } : {}),
    };
  } catch {
    return undefined;
  }
}
