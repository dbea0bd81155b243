/**
 * A service registering itself: register with a lease, renew it a few times per ttl by
 * publishes (the registry folds them in memory: nothing is stored, nothing answers), register
 * again when the registry let it expire (its entry leaves the bucket, or a renewal request after
 * a reconnect says it is gone), and deregister on stop.
 */
import type { Logger } from "pino";
import { RegistryError } from "../contract/errors.ts";
import type { Instance, RegisterInstanceRequest } from "../contract/schemas.ts";

export type SelfRegistration = {
  /** The instance as last registered or renewed. */
  instance(): Instance;
  /** Sets the instance's own status (Starting, Stopping...). */
  setStatus(status: Instance["status"], details?: string): Promise<void>;
  /** Stops renewing and deregisters: call it on shutdown (SIGTERM). */
  stop(): Promise<void>;
};

export type SelfRegisterApi = {
  registerInstance(req: RegisterInstanceRequest): Promise<Instance>;
  renewLease(id: string): Promise<Instance>;
  publishRenewal(instance: Instance): void;
  whenRemoved(instance: Instance, removed: () => void): { stop(): void };
  whenReconnected(reconnected: () => void): { stop(): void };
  reportStatus(id: string, status: Instance["status"], details?: string): Promise<Instance>;
  removeInstance(id: string): Promise<void>;
};

export const DEFAULT_TTL_SECONDS = 15;

export async function selfRegister(api: SelfRegisterApi, request: RegisterInstanceRequest, log: Logger): Promise<SelfRegistration> {
  const req = { ...request, ttlSeconds: request.ttlSeconds ?? DEFAULT_TTL_SECONDS };
  let instance = await api.registerInstance(req);
  const renewEveryMs = Math.max(100, (req.ttlSeconds * 1000) / 3);
  let stopped = false;

  const registerAgain = async (why: string) => {
    if (stopped) return;
    log.warn({ instance: instance.id }, `${why}; registering again`);
    try {
      instance = await api.registerInstance({ ...req, id: instance.id });
    } catch (err) {
      log.warn({ err, instance: instance.id }, "registering again failed; trying at the next renewal");
      gone = true;
    }
  };
  let gone = false;
  const removal = api.whenRemoved(instance, () => void registerAgain("the registry removed the instance (its lease expired, or someone removed it)"));
  /** After a reconnect, renewals published meanwhile were lost: one request says whether the instance is still there. */
  const check = async () => {
    try {
      instance = await api.renewLease(instance.id);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 404) await registerAgain("the registry had let the lease expire");
      else log.warn({ err, instance: instance.id }, "lease renewal failed; trying again");
    }
  };
  const reconnects = api.whenReconnected(() => void check());

  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    if (gone) {
      gone = false;
      await check();
    } else {
      try {
        api.publishRenewal(instance);
      } catch (err) {
        log.warn({ err, instance: instance.id }, "lease renewal not published; trying again");
      }
    }
    if (!stopped) timer = setTimeout(() => void loop(), renewEveryMs);
  };
  timer = setTimeout(() => void loop(), renewEveryMs);

  return {
    instance: () => instance,
    async setStatus(status, details) {
      instance = await api.reportStatus(instance.id, status, details);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      removal.stop();
      reconnects.stop();
      await api.removeInstance(instance.id).catch((err) => {
        if (!(err instanceof RegistryError && err.code === 404)) throw err;
      });
    },
  };
}
