/**
 * Prometheus's HTTP service discovery (`http_sd_configs`): the instances as target groups,
 * one per instance, each `host:port` with the `__meta_registry_*` labels Prometheus's
 * relabelling reads (and drops before storing). The labels follow Consul's: the tags joined
 * with a comma before and after each, so `,blue,` matches one tag whatever its place.
 */
import type { Instance } from "../contract/schemas.ts";

export type TargetGroup = { targets: string[]; labels: Record<string, string> };

/** An instance's `host:port`, as Prometheus scrapes it; undefined without a port it can tell. */
export function targetOf(i: Instance): string | undefined {
  const port = i.port ?? (i.scheme === "https" ? 443 : i.scheme === "http" ? 80 : undefined);
  const host = i.ip ?? i.host;
  if (port === undefined || host === undefined) return undefined;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** A metadata key as a label name: what label names may not hold (anything but letters, digits and _) becomes _. */
export const metadataLabel = (key: string) => `__meta_registry_metadata_${key.replace(/[^A-Za-z0-9_]/g, "_")}`;

/** A tag in the comma-joined list: `%` and `,` percent-encoded, so that the commas only separate. */
const tagInList = (tag: string) => tag.replaceAll("%", "%25").replaceAll(",", "%2C");

export function targetGroups(instances: Iterable<Instance>, nodeIdOfUrl: (url: string) => string | undefined): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const i of instances) {
    const target = targetOf(i);
    if (target === undefined) continue;
    const labels: Record<string, string> = {
      __meta_registry_slug: i.slug ?? "",
      __meta_registry_instance_id: i.id,
      __meta_registry_status: i.status,
      __meta_registry_tags: i.tags.length === 0 ? "" : `,${i.tags.map(tagInList).join(",")},`,
      __meta_registry_node: i.nodeUrl === undefined ? "" : (nodeIdOfUrl(i.nodeUrl) ?? ""),
    };
    // Keys that become one label name: the first in key order wins, whatever order they were given in.
    for (const key of Object.keys(i.metadata ?? {}).sort()) {
      const name = metadataLabel(key);
      if (!(name in labels)) labels[name] = i.metadata![key]!;
    }
    groups.push({ targets: [target], labels });
  }
  return groups;
}
