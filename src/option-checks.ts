/**
 * Checks shared by the options parsers (parseHubOptions, parseCreateWorkerOptions): each throws
 * {@link InvalidArgumentError} naming the option, the value and what was expected, e.g.
 * ``Expected `port` to be an integer from 0 to 65535, got `70000` (number)``.
 */
import { describeValue, InvalidArgumentError } from './errors.ts';

/** The error every check throws. */
export function invalidOption(name: string, expectation: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected \`${name}\` to be ${expectation}, got ${describeValue(value)}`, { data: { option: name } });
}

/** An integer in [min, max], or `fallback` when undefined. */
export function checkInteger(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer >= ${min}`) : `an integer from ${min} to ${max}`;
    throw invalidOption(name, range, value);
  }
  return value;
}

/** A non-empty string, or undefined. */
export function checkString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidOption(name, 'a non-empty string', value);
  return value;
}

/** A boolean, or `fallback` when undefined. */
export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value);
  return value;
}

/** An array of non-empty strings, or `[]` when undefined. */
export function checkStringList(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) throw invalidOption(name, 'an array of non-empty strings', value);
  return [...value];
}

/** A plain object (options bag), or `{}` when undefined. */
export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidOption(name, 'an object', value);
  return value as Record<string, unknown>;
}

/** Refuses keys the parser does not know (a typo would otherwise be silently ignored). */
export function checkKnownKeys(what: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new InvalidArgumentError(`Unknown ${what} option \`${key}\`; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`, { data: { option: key } });
  }
}
