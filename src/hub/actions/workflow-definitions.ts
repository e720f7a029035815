/**
 * Workflows as data: YAML or JSON files with a name, steps, triggers and a conflict policy. The built-in
 * ones are in workflows/*.yml at the package root; `cla-hub start --workflows DIR` adds (or replaces) more.
 *
 * ```yaml
 * name: collect_and_cleanup
 * steps:
 *   - { name: collect, action: collect, timeout: 1h, on_error: continue }
 *   - { name: plan_cleanup, action: plan_cleanup, timeout: 10m }
 *   - { name: cleanup, action: cleanup, timeout: 1h }
 * triggers: [manual, { cron: '0 * * * *' }, { event: collect_and_cleanup }]
 * on_conflict: skip
 * ```
 *
 * Every mistake is reported with the file and the key (`steps[1].timeout`), as an {@link InvalidArgumentError}
 * whose `data` holds both.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cron } from 'croner';
import { parse as parseYaml } from 'yaml';
import type { OnError } from '../../../machines/workflow-run.machine.ts';
import { describeValue, InvalidArgumentError } from '../../errors.ts';

/** What a trigger starting a second run does while one of the same workflow is active. */
export type OnConflict = 'skip' | 'wait' | 'replace' | 'parallel';

export type Trigger = { kind: 'manual' } | { kind: 'cron'; cron: string } | { kind: 'event'; event: string };

export interface StepDefinition {
  name: string;
  /** The action broadcast to its subscribers. */
  action: string;
  /** The step's time limit, in ms. @default 3600000 (1 h) */
  timeoutMs: number;
  /** @default 'stop' */
  onError: OnError;
  /** Sent as the `action` frame's `data`. @default {} */
  data: Record<string, unknown>;
}

export interface WorkflowDefinition {
  name: string;
  description: string;
  steps: StepDefinition[];
  triggers: Trigger[];
  /** @default 'skip' */
  onConflict: OnConflict;
  /** The file it came from. */
  source: string;
}

/** The folder of the built-in definitions. */
export const BUILTIN_WORKFLOWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'workflows');

const NAME = /^[A-Za-z0-9_.-]{1,200}$/;
const DEFAULT_TIMEOUT_MS = 3_600_000;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A mistake in a definition, naming its file and key. */
export class WorkflowDefinitionError extends InvalidArgumentError {
  constructor(
    readonly file: string,
    readonly key: string,
    problem: string,
  ) {
    super(`${file}: ${key ? `\`${key}\` ` : ''}${problem}`, { data: { file, key } });
    this.name = 'WorkflowDefinitionError';
  }
}

/** `90`, `'90'` (seconds), `'500ms'`, `'30s'`, `'10m'`, `'1h30m'`, `'2d'` -> ms; null when not a duration. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text));
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return null;
  const ms = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0));
  return ms > 0 ? ms : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkKeys(file: string, key: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) {
      throw new WorkflowDefinitionError(file, key ? `${key}.${k}` : k, `is not a known key (expected one of ${allowed.join(', ')})`);
    }
  }
}

function name(file: string, key: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new WorkflowDefinitionError(file, key, `must be a name of letters, digits, \`_\`, \`.\` or \`-\`, got ${describeValue(value)}`);
  }
  return value;
}

function parseStep(file: string, key: string, raw: unknown): StepDefinition {
  if (!isRecord(raw)) throw new WorkflowDefinitionError(file, key, `must be a mapping with name and action, got ${describeValue(raw)}`);
  checkKeys(file, key, raw, ['name', 'action', 'timeout', 'on_error', 'data']);
  const stepName = name(file, `${key}.name`, raw.name);
  const action = name(file, `${key}.action`, raw.action ?? stepName);
  const timeoutMs = raw.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(raw.timeout);
  if (timeoutMs === null) {
    throw new WorkflowDefinitionError(file, `${key}.timeout`, `must be a duration such as \`30s\`, \`10m\`, \`1h\` or a number of seconds, got ${describeValue(raw.timeout)}`);
  }
  const onError = raw.on_error ?? 'stop';
  if (onError !== 'continue' && onError !== 'stop') {
    throw new WorkflowDefinitionError(file, `${key}.on_error`, `must be \`continue\` or \`stop\`, got ${describeValue(onError)}`);
  }
  if (raw.data !== undefined && !isRecord(raw.data)) throw new WorkflowDefinitionError(file, `${key}.data`, `must be a mapping, got ${describeValue(raw.data)}`);
  return { name: stepName, action, timeoutMs, onError, data: (raw.data as Record<string, unknown> | undefined) ?? {} };
}

function parseTrigger(file: string, key: string, raw: unknown): Trigger {
  if (raw === 'manual') return { kind: 'manual' };
  if (isRecord(raw) && Object.keys(raw).length === 1) {
    if (typeof raw.cron === 'string') {
      try {
        new Cron(raw.cron, { paused: true });
      } catch (error) {
        throw new WorkflowDefinitionError(file, `${key}.cron`, `is not a cron expression: ${(error as Error).message}`);
      }
      return { kind: 'cron', cron: raw.cron };
    }
    if ('event' in raw) return { kind: 'event', event: name(file, `${key}.event`, raw.event) };
  }
  throw new WorkflowDefinitionError(file, key, `must be \`manual\`, \`{cron: '*/5 * * * *'}\` or \`{event: NAME}\`, got ${describeValue(raw)}`);
}

/** Checks one parsed document. */
export function toWorkflowDefinition(raw: unknown, file: string): WorkflowDefinition {
  if (!isRecord(raw)) throw new WorkflowDefinitionError(file, '', `must hold a mapping with name, steps and triggers, got ${describeValue(raw)}`);
  checkKeys(file, '', raw, ['name', 'description', 'steps', 'triggers', 'on_conflict']);
  const workflow = name(file, 'name', raw.name);
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    throw new WorkflowDefinitionError(file, 'description', `must be a string, got ${describeValue(raw.description)}`);
  }
  if (!Array.isArray(raw.steps) || raw.steps.length === 0) {
    throw new WorkflowDefinitionError(file, 'steps', `must be a non-empty list of steps, got ${describeValue(raw.steps)}`);
  }
  const steps = raw.steps.map((step, i) => parseStep(file, `steps[${i}]`, step));
  const seen = new Set<string>();
  steps.forEach((step, i) => {
    if (seen.has(step.name)) throw new WorkflowDefinitionError(file, `steps[${i}].name`, `repeats the step name \`${step.name}\``);
    seen.add(step.name);
  });
  const rawTriggers = raw.triggers ?? ['manual'];
  if (!Array.isArray(rawTriggers)) throw new WorkflowDefinitionError(file, 'triggers', `must be a list, got ${describeValue(rawTriggers)}`);
  const triggers = rawTriggers.map((trigger, i) => parseTrigger(file, `triggers[${i}]`, trigger));
  const onConflict = raw.on_conflict ?? 'skip';
  if (onConflict !== 'skip' && onConflict !== 'wait' && onConflict !== 'replace' && onConflict !== 'parallel') {
    throw new WorkflowDefinitionError(file, 'on_conflict', `must be one of skip, wait, replace, parallel, got ${describeValue(onConflict)}`);
  }
  return { name: workflow, description: (raw.description as string | undefined) ?? '', steps, triggers, onConflict, source: file };
}

/** Parses the text of a `.yml`, `.yaml` or `.json` file (YAML is a superset of JSON: one parser). */
export function parseWorkflowDefinition(text: string, file: string): WorkflowDefinition {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new WorkflowDefinitionError(file, '', `is not valid YAML/JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  return toWorkflowDefinition(raw, file);
}

/** Loads every `*.yml`, `*.yaml` and `*.json` file of a folder, in name order; two with one name are an error. */
export function loadWorkflowDir(dir: string): WorkflowDefinition[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).filter((f) => /\.(ya?ml|json)$/i.test(f)).sort();
  } catch (error) {
    throw new WorkflowDefinitionError(dir, '', `cannot be read: ${(error as Error).message}`);
  }
  const byName = new Map<string, WorkflowDefinition>();
  for (const entry of entries) {
    const file = path.join(dir, entry);
    const definition = parseWorkflowDefinition(fs.readFileSync(file, 'utf8'), file);
    const earlier = byName.get(definition.name);
    if (earlier) throw new WorkflowDefinitionError(file, 'name', `\`${definition.name}\` is already defined in ${earlier.source}`);
    byName.set(definition.name, definition);
  }
  return [...byName.values()];
}

/**
 * The built-in definitions, then those of `dir` (one with a built-in's name replaces it; `replaced`
 * lists them so the hub can say so).
 */
export function loadWorkflows(dir?: string, builtinDir = BUILTIN_WORKFLOWS_DIR): { workflows: Map<string, WorkflowDefinition>; replaced: string[] } {
  const workflows = new Map(loadWorkflowDir(builtinDir).map((w) => [w.name, w] as const));
  const replaced: string[] = [];
  for (const definition of dir ? loadWorkflowDir(dir) : []) {
    if (workflows.has(definition.name)) replaced.push(definition.name);
    workflows.set(definition.name, definition);
  }
  return { workflows, replaced };
}
