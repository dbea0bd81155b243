/** The secure layout of secure/ for tests: its server configuration in a temporary folder, and its example users. */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const secure = (file: string) => fileURLToPath(new URL(`../../secure/${file}`, import.meta.url));

/** The example passwords of secure/nats.conf. */
export const USERS = {
  registry: "registry-example",
  admin: "admin-example",
  viewer: "viewer-example",
  deployer: "deployer-example",
  proxy: "proxy-example",
  "user-svc": "user-svc-example",
  "order-svc": "order-svc-example",
  "agent-node-1": "agent-1-example",
  "agent-node-2": "agent-2-example",
} as const;
export type User = keyof typeof USERS;

/** secure/nats.conf, copied into `dir` with its JetStream store there too; returns the copy's path. */
export async function secureConfigIn(dir: string): Promise<string> {
  const conf = join(dir, "nats.conf");
  const text = await readFile(secure("nats.conf"), "utf8");
  await writeFile(conf, text.replace('store_dir: "./data/nats-secure"', `store_dir: "${join(dir, "store")}"`));
  return conf;
}
