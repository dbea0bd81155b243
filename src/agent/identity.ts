/**
 * Who this node is: OB_NODE_ID, or an id generated once and kept in the data directory
 * so that a restart does not make a second node; plus the one warning a badly
 * configured node logs.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isValidId } from "../contract/ids.ts";

export type NodeIdentity = { id: string; url: string; region?: string; availabilityZone?: string; generatedId: boolean };

const ID_FILE = "node-id";

export async function resolveIdentity(config: {
  nodeId?: string;
  selfUrl: string;
  region?: string;
  availabilityZone?: string;
  dataDir: string;
}): Promise<NodeIdentity> {
  const place = {
    url: config.selfUrl,
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(config.availabilityZone !== undefined ? { availabilityZone: config.availabilityZone } : {}),
  };
  if (config.nodeId) return { id: config.nodeId, ...place, generatedId: false };
  const file = join(config.dataDir, ID_FILE);
  const kept = await readFile(file, "utf8").then((s) => s.trim(), () => "");
  if (isValidId(kept)) return { id: kept, ...place, generatedId: true };
  const id = `node_${randomBytes(5).toString("hex")}`;
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${id}\n`, { flag: "w" });
  return { id, ...place, generatedId: true };
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/** What a badly configured node should set, or undefined when it is well configured. */
export function configurationWarning(identity: NodeIdentity): string | undefined {
  const advice: string[] = [];
  if (LOOPBACK.test(new URL(identity.url).hostname)) {
    advice.push(`OB_SELF_URL is ${identity.url}, which other nodes cannot reach: set it to this machine's network address`);
  }
  if (identity.generatedId) advice.push(`OB_NODE_ID is not set, so the generated id ${identity.id} is used: set a stable, unique id`);
  return advice.length > 0 ? `node is not configured for a multi-node setup: ${advice.join("; ")}` : undefined;
}
