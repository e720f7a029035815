/**
 * The order in which flagged resources are removed: dependents first. An edge `a -> b` means "a
 * depends on b" (a file on its folder), so a resource comes after every flagged resource that depends
 * on it, directly or through unflagged ones. Kahn's algorithm on the flagged resources; ties keep the
 * input order; resources in a dependency cycle come last, in input order (the plugin's remove will
 * then fail for what is still in use, which is reported, not hidden).
 */

export interface GraphNode {
  id: string;
  /** Ids this resource depends on. */
  edges: readonly string[];
}

/** The flagged ids in removal order (dependents first). Ids not in `nodes` come first, as they are. */
export function cleanupOrder(nodes: readonly GraphNode[], flagged: Iterable<string>): string[] {
  const byId = new Map(nodes.map((n) => [n.id, n] as const));
  const wanted = [...new Set(flagged)];
  const unknown = wanted.filter((id) => !byId.has(id));
  const ids = wanted.filter((id) => byId.has(id));
  const set = new Set(ids);

  // For every flagged resource, the flagged resources it depends on (transitively through unflagged ones).
  const dependsOn = new Map<string, Set<string>>();
  for (const id of ids) {
    const found = new Set<string>();
    const seen = new Set<string>([id]);
    const stack = [...byId.get(id)!.edges];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      if (set.has(next)) found.add(next);
      else for (const e of byId.get(next)?.edges ?? []) stack.push(e);
    }
    dependsOn.set(id, found);
  }
  // waiting[b] = flagged dependents of b not yet ordered
  const waiting = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const deps of dependsOn.values()) for (const b of deps) waiting.set(b, waiting.get(b)! + 1);

  const order: string[] = [];
  const done = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const id of ids) {
      if (done.has(id) || waiting.get(id)! > 0) continue;
      order.push(id);
      done.add(id);
      progress = true;
      for (const b of dependsOn.get(id)!) waiting.set(b, waiting.get(b)! - 1);
    }
  }
  for (const id of ids) if (!done.has(id)) order.push(id);
  return [...unknown, ...order];
}
