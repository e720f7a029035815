/** Small argv value parsers shared by both CLIs. */
import { InvalidArgumentError } from '../errors.ts';

/** Splits `a,b, c` (and repeated values) into a de-duplicated list without empties. */
export function splitList(...values: Array<string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const value of values.flat()) {
    for (const part of (value ?? '').split(',')) {
      const item = part.trim();
      if (item && !out.includes(item)) out.push(item);
    }
  }
  return out;
}

/** Parses a number of seconds (`--timeout 2.5`); `allowZero` accepts 0. */
export function parsePositiveSeconds(flag: string, value: string, allowZero = false): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0 || (!allowZero && seconds === 0)) {
    throw new InvalidArgumentError(`Expected \`${flag}\` to be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got \`${value}\``);
  }
  return seconds;
}
