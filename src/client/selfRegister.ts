/**
 * A service registering itself: register with a lease, renew it a few times per ttl,
 * register again if the registry let it expire (after an outage), and deregister on stop.
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
  reportStatus(id: string, status: Instance["status"], details?: string): Promise<Instance>;
  removeInstance(id: string): Promise<void>;
};

export const DEFAULT_TTL_SECONDS = 15;

export async function selfRegister(api: SelfRegisterApi, request: RegisterInstanceRequest, log: Logger): Promise<SelfRegistration> {
  const req = { ...request, ttlSeconds: request.ttlSeconds ?? DEFAULT_TTL_SECONDS };
  let instance = await api.registerInstance(req);
  const renewEveryMs = Math.max(100, (req.ttlSeconds * 1000) / 3);
  let stopped = false;

  const renew = async () => {
    try {
      instance = await api.renewLease(instance.id);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 404) {
        log.warn({ instance: instance.id }, "the registry had let the lease expire; registering again");
        instance = await api.registerInstance({ ...req, id: instance.id });
      } else {
        log.warn({ err, instance: instance.id }, "lease renewal failed; trying again");
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    await renew().catch(() => undefined);
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
      await api.removeInstance(instance.id).catch((err) => {
        if (!(err instanceof RegistryError && err.code === 404)) throw err;
      });
    },
  };
}
