/**
 * What the DNS face may name. A DNS query carries no identity, so a registry running a policy
 * (REGISTRY_POLICY) answers only for the slugs REGISTRY_DNS_PUBLIC names, and never for nodes;
 * an open registry answers for everything, as its NATS subjects and HTTP face do.
 */
import type { Config } from "../config.ts";
import type { Node } from "../contract/schemas.ts";
import type { DnsCatalog } from "../dns/answers.ts";
import type { KvMirror } from "../nats/kvMirror.ts";
import type { InstancesView } from "../readmodels/instances.ts";
import { slugPatternMatches } from "../domain/slugScope.ts";

/** Whether a public-slug pattern (a slug, or a prefix ending in `*`) names this slug; both compared in lower case. */
export function publicSlugMatches(pattern: string, lowerCaseSlug: string): boolean {
  return slugPatternMatches(pattern.toLowerCase(), lowerCaseSlug);
}

export function dnsCatalog(config: Pick<Config, "policyFile" | "dnsPublicSlugs">, instances: InstancesView, nodes: KvMirror<Node>): DnsCatalog {
  const secured = config.policyFile !== undefined;
  // Node ids are case-sensitive, DNS names not: each id under its lower case, so that a name is one lookup.
  const idOfLower = new Map<string, string>();
  for (const id of nodes.entryKeys()) idOfLower.set(id.toLowerCase(), id);
  nodes.onChange((id, node) => (node ? idOfLower.set(id.toLowerCase(), id) : idOfLower.get(id.toLowerCase()) === id && idOfLower.delete(id.toLowerCase())));
  return {
    instancesOf: (slug) => instances.ofSlugInAnyCase(slug),
    nodeNamed(id) {
      const key = idOfLower.get(id);
      return key === undefined ? undefined : nodes.get(key);
    },
    servesSlug: (slug) => !secured || config.dnsPublicSlugs.some((p) => publicSlugMatches(p, slug)),
    servesNodes: !secured,
  };
}
