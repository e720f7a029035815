// Reads an xstate `machine.toJSON()` (GET /api/machines/worker) into what the drawing needs: the
// top-level states with their substates, the transitions between them, and a layer (column) per
// top-level state. Plain data, no DOM, so the layout rules can be read and checked on their own.

/** `#worker.connected.idle` / `worker.connected.idle` -> `connected.idle` (relative to the machine). */
function relative(machineId, id) {
  const bare = String(id).replace(/^#/, '');
  return bare.startsWith(`${machineId}.`) ? bare.slice(machineId.length + 1) : bare;
}

/** A transition's event as shown: `after reconnectDelay` for delayed ones, `always` for eventless ones. */
function eventLabel(t) {
  const type = t.eventType ?? '';
  if (type === '') return 'always';
  if (type.startsWith('xstate.after.')) return `after ${typeof t.delay === 'string' ? t.delay : type.split('.')[2]}`;
  return type;
}

function guardLabel(t) {
  if (!t.guard) return null;
  return typeof t.guard === 'string' ? t.guard : t.guard.type ?? 'guard';
}

/**
 * @returns {{
 *   id: string,
 *   initial: string | null,
 *   states: { path: string, key: string, type: string, description?: string, substates: { path: string, key: string, type: string }[], layer: number }[],
 *   transitions: { from: string, to: string | null, event: string, guard: string | null }[],
 *   edges: { from: string, to: string, fromTop: string, toTop: string, labels: string[] }[],
 *   global: { event: string, guard: string | null, to: string | null }[],
 * }}
 */
export function machineModel(json) {
  const id = json.id ?? json.key ?? 'machine';
  const byOrder = (a, b) => (a.order ?? 0) - (b.order ?? 0);
  const tops = Object.values(json.states ?? {}).sort(byOrder);
  const states = tops.map((node) => ({
    path: relative(id, node.id),
    key: node.key,
    type: node.type,
    description: node.description,
    substates: Object.values(node.states ?? {}).sort(byOrder).map((sub) => ({ path: relative(id, sub.id), key: sub.key, type: sub.type })),
    layer: 0,
  }));
  const topOf = (path) => path.split('.')[0];
  const transitions = [];
  const collect = (node) => {
    for (const t of [...(node.transitions ?? []), ...(node.always ?? [])]) {
      const targets = Array.isArray(t.target) && t.target.length > 0 ? t.target : [null];
      for (const target of targets) {
        transitions.push({ from: relative(id, node.id), to: target === null ? null : relative(id, target), event: eventLabel(t), guard: guardLabel(t) });
      }
    }
  };
  for (const node of tops) {
    collect(node);
    for (const sub of Object.values(node.states ?? {})) collect(sub);
  }
  // Transitions declared on the machine itself apply in every state that does not override them.
  const global = [];
  for (const t of json.transitions ?? []) {
    const target = Array.isArray(t.target) && t.target.length > 0 ? relative(id, t.target[0]) : null;
    global.push({ event: eventLabel(t), guard: guardLabel(t), to: target });
  }

  // One drawn edge per (from, to), labelled with every event that takes it.
  const edges = new Map();
  for (const t of transitions) {
    if (t.to === null || t.to === t.from) continue;
    const key = `${t.from}\u0000${t.to}`;
    const label = t.guard ? `${t.event} [${t.guard}]` : t.event;
    const edge = edges.get(key) ?? { from: t.from, to: t.to, fromTop: topOf(t.from), toTop: topOf(t.to), labels: [] };
    if (!edge.labels.includes(label)) edge.labels.push(label);
    edges.set(key, edge);
  }
  const initial = json.initial?.target?.[0] ? topOf(relative(id, json.initial.target[0])) : states[0]?.path ?? null;
  assignLayers(states, [...edges.values()], initial);
  return { id, initial, states, transitions, edges: [...edges.values()], global };
}

/**
 * Layers (columns, left to right): breadth-first distance from the initial state; then a state reached
 * from a state of its own layer moves one layer on, unless the two lead to each other (connected <->
 * disabled stay side by side); final states go last. Bounded, so any cycle still ends.
 */
function assignLayers(states, edges, initial) {
  const paths = states.map((state) => state.path);
  const out = new Map(paths.map((path) => [path, new Set()]));
  for (const edge of edges) if (edge.fromTop !== edge.toTop) out.get(edge.fromTop)?.add(edge.toTop);
  const depth = new Map();
  if (initial !== null && out.has(initial)) {
    depth.set(initial, 0);
    const queue = [initial];
    while (queue.length > 0) {
      const current = queue.shift();
      for (const next of out.get(current)) {
        if (!depth.has(next)) {
          depth.set(next, depth.get(current) + 1);
          queue.push(next);
        }
      }
    }
  }
  for (const path of paths) if (!depth.has(path)) depth.set(path, 0);
  const isFinal = new Set(states.filter((state) => state.type === 'final').map((state) => state.path));
  for (let round = 0, changed = true; changed && round < paths.length; round++) {
    changed = false;
    for (const [from, targets] of out) {
      for (const to of targets) {
        if (isFinal.has(to) || depth.get(to) !== depth.get(from) || out.get(to).has(from)) continue;
        depth.set(to, depth.get(from) + 1);
        changed = true;
      }
    }
  }
  const lastOther = Math.max(0, ...paths.filter((path) => !isFinal.has(path)).map((path) => depth.get(path)));
  for (const path of isFinal) depth.set(path, lastOther + 1);
  // Close the gaps left by moved states.
  const used = [...new Set(depth.values())].sort((a, b) => a - b);
  for (const state of states) state.layer = used.indexOf(depth.get(state.path));
}
