/**
 * The ids of one slug's instances, in no order: a plain array while few, a Set past `SMALL`. A
 * Set of a hundred ids takes 2.6 KB and an array 1 KB; at a million instances in 10,000 slugs that
 * is 15 MiB of a process's memory (measured). Past SMALL, removing from an array would cost its length.
 */
const SMALL = 256;

export type IdGroup = string[] | Set<string>;

/** `group` with `id` in it (the same group, or the Set it grew into). */
export function withId(group: IdGroup | undefined, id: string): IdGroup {
  if (group === undefined) return [id];
  if (group instanceof Set) return group.add(id);
  if (group.includes(id)) return group;
  if (group.length >= SMALL) return new Set(group).add(id);
  group.push(id);
  return group;
}

/** Takes `id` out of `group`; how many are left. */
export function withoutId(group: IdGroup, id: string): number {
  if (group instanceof Set) {
    group.delete(id);
    return group.size;
  }
  const at = group.indexOf(id);
  if (at >= 0) {
    group[at] = group[group.length - 1]!;
    group.pop();
  }
  return group.length;
}
