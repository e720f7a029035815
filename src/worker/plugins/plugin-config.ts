/**
 * Plugin settings. The documented way is `--override NAME.key=value` (repeatable; also
 * `CLA_WORKER_OVERRIDE` and the config file's `overrides:` mapping, which WorkerOptions already merges):
 * `--override fs.roots=/data/tmp,/var/tmp --override fs.dry_run=true`. Every value arrives as a string;
 * the typed getters check it and name the key in their error.
 */
import { describeValue, InvalidArgumentError } from '../../errors.ts';

/** One plugin's settings. */
export class PluginConfig {
  constructor(
    readonly plugin: string,
    private readonly values: Readonly<Record<string, string>> = {},
  ) {}

  keys(): string[] {
    return Object.keys(this.values);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.values, key);
  }

  get(key: string): string | undefined {
    return this.has(key) ? this.values[key] : undefined;
  }

  private fail(key: string, what: string): never {
    throw new InvalidArgumentError(`Expected \`${this.plugin}.${key}\` to be ${what}, got ${describeValue(this.values[key])}`, {
      data: { plugin: this.plugin, key },
    });
  }

  string(key: string, fallback: string): string {
    return this.get(key) ?? fallback;
  }

  /** `true`/`false`/`yes`/`no`/`1`/`0`/`on`/`off`. */
  boolean(key: string, fallback: boolean): boolean {
    const raw = this.get(key);
    if (raw === undefined) return fallback;
    const v = raw.trim().toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(v)) return true;
    if (['false', 'no', '0', 'off'].includes(v)) return false;
    return this.fail(key, '`true` or `false`');
  }

  /** A number within [min, max]. */
  number(key: string, fallback: number, min = -Infinity, max = Infinity): number {
    const raw = this.get(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) return this.fail(key, `a number${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`);
    return n;
  }

  /** Seconds: `3600`, or with a unit `90s`, `30m`, `12h`, `7d`. Returns seconds. */
  seconds(key: string, fallback: number | null): number | null {
    const raw = this.get(key);
    if (raw === undefined) return fallback;
    const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/.exec(raw);
    if (!m) return this.fail(key, 'a number of seconds, or a duration such as `30m`, `12h`, `7d`');
    return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  }

  /** A comma separated list, trimmed, without empties. */
  list(key: string, fallback: string[]): string[] {
    const raw = this.get(key);
    if (raw === undefined) return fallback;
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  }

  /** Refuses keys outside `known` (a typo such as `fs.rots` would otherwise be ignored silently). */
  checkKeys(known: readonly string[]): void {
    for (const key of this.keys()) {
      if (!known.includes(key)) {
        throw new InvalidArgumentError(`Unknown setting \`${this.plugin}.${key}\` (the ${this.plugin} plugin knows ${known.map((k) => `\`${k}\``).join(', ')})`, {
          data: { plugin: this.plugin, key },
        });
      }
    }
  }
}

/**
 * Splits the worker's overrides into per-plugin settings: `fs.roots=/x` is `roots` of plugin `fs`.
 * Keys without a dot are not plugin settings and are left out.
 */
export function pluginSettings(overrides: Readonly<Record<string, string>>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const [key, value] of Object.entries(overrides)) {
    const dot = key.indexOf('.');
    if (dot <= 0 || dot === key.length - 1) continue;
    const plugin = key.slice(0, dot);
    const settings = out.get(plugin) ?? {};
    settings[key.slice(dot + 1)] = value;
    out.set(plugin, settings);
  }
  return out;
}
