/**
 * Checks shared by the workflow machine tests (the same ones session-machine.test.ts makes): the config
 * is literal JSON-like data, every action/guard/delay is named, declared and used, and `toJSON()` names
 * every action (inline `assign` would serialise as null).
 */
import * as assert from 'uvu/assert';
import { getStateNodes } from 'xstate/graph';
import type { AnyStateMachine, StateValue } from 'xstate';

/** Paths under `node` whose value JSON would drop or change (functions, class instances, NaN, ...). */
export function jsonIssues(node: unknown, path: string): string[] {
  if (node === undefined || node === null || typeof node === 'string' || typeof node === 'boolean') return [];
  if (typeof node === 'number') return Number.isFinite(node) ? [] : [path];
  if (Array.isArray(node)) return node.flatMap((child, i) => jsonIssues(child, `${path}[${i}]`));
  if (typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
    return Object.entries(node).flatMap(([k, v]) => jsonIssues(v, `${path}.${k}`));
  }
  return [path];
}

/** The side-effect placeholders: every declared action that is not a named `assign`. */
export function effectNames(machine: AnyStateMachine): string[] {
  return Object.entries(machine.implementations.actions)
    .filter(([, impl]) => (impl as { type?: string }).type !== 'xstate.assign')
    .map(([name]) => name)
    .sort();
}

/** Asserts the config holds only named references, each declared and each used. */
export function assertLiteralConfig(machine: AnyStateMachine, contextFactory: unknown): void {
  const { implementations } = machine;
  const used = { actions: new Set<string>(), guards: new Set<string>(), delays: new Set<string>() };
  (function walk(node: unknown, path: string): void {
    if (typeof node === 'function') {
      assert.is(path, 'context', `function at ${path}`);
      assert.is(node, contextFactory);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'actions' || k === 'entry' || k === 'exit') {
        for (const name of ([] as unknown[]).concat(v)) {
          assert.type(name, 'string', `${path}.${k}`);
          assert.ok((name as string) in implementations.actions, `undeclared action ${name}`);
          used.actions.add(name as string);
        }
      } else if (k === 'guard') {
        assert.type(v, 'string', `${path}.guard`);
        assert.ok((v as string) in implementations.guards, `undeclared guard ${v}`);
        used.guards.add(v as string);
      } else if (k === 'after') {
        for (const delay of Object.keys(v as object)) {
          assert.ok(delay in implementations.delays, `undeclared delay ${delay}`);
          used.delays.add(delay);
        }
        walk(v, `${path}.after`);
      } else walk(v, path ? `${path}.${k}` : k);
    }
  })(machine.config, '');
  assert.equal([...used.actions].sort(), Object.keys(implementations.actions).sort());
  assert.equal([...used.guards].sort(), Object.keys(implementations.guards).sort());
  assert.equal([...used.delays].sort(), Object.keys(implementations.delays).sort());
  const { context: _context, ...data } = machine.config;
  assert.equal(jsonIssues(data, 'config'), [], 'config holds only JSON values');
}

/** Asserts `toJSON()` names every action and guard (no inline function serialised as null). */
export function assertNamedInJson(machine: AnyStateMachine): string[] {
  const seen: string[] = [];
  (function walk(node: unknown, key: string): void {
    if (Array.isArray(node)) {
      if (key === 'actions' || key === 'entry' || key === 'exit') {
        for (const action of node) {
          const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
          assert.type(name, 'string', `${key} holds ${JSON.stringify(action)}`);
          const known = (name as string) in machine.implementations.actions;
          assert.ok(known || /^xstate\.(raise|cancel)$/.test(name as string), `${name}`);
          seen.push(name as string);
        }
      } else node.forEach((child) => walk(child, key));
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'guard') assert.ok(typeof v === 'string' && v in machine.implementations.guards, `guard ${v}`);
        walk(v, k);
      }
    }
  })(JSON.parse(JSON.stringify(machine.toJSON())), '');
  return seen;
}

/** Leaf state paths of a machine, e.g. `waiting`, sorted. */
export function leafStates(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .filter((node) => Object.keys(node.states).length === 0)
    .map((node) => node.path.join('.'))
    .sort();
}

/** Leaf paths of a state value. */
export function leafPaths(value: StateValue): string[] {
  if (typeof value === 'string') return [value];
  return Object.entries(value).flatMap(([key, child]) => (child === undefined ? [key] : leafPaths(child).map((p) => `${key}.${p}`)));
}

/** Every event type a machine's states handle. */
export function handledEvents(machine: AnyStateMachine): Set<string> {
  return new Set([machine.root, ...getStateNodes(machine.root)].flatMap((n) => n.ownEvents));
}
