/**
 * Secrets given on the command line (`cla-worker run --token T`, `cla-hub start --psk KEY`) are readable by
 * every local user in `/proc/PID/cmdline` and `ps` for as long as the process runs. The seed's `--token`
 * keeps working, but (issue 11, case 13):
 * - {@link hideSecretArguments} overwrites the process's argument area with a masked copy as soon as the CLI
 *   starts (libuv's `process.title` writes over the whole original argv on Linux), so `ps` shows
 *   `--token ***`. The secret is visible only while Node and the CLI load, a fraction of a second.
 * - Every secret can instead come from a file, `--token-file FILE` (env `CLA_WORKER_TOKEN_FILE`), or from its
 *   environment variable (`CLA_WORKER_TOKEN`), which only the same user can read in `/proc/PID/environ`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.ts';
import { tightenToOwnerOnly } from '../file-mode.ts';

/** Options whose values are secrets, by commander attribute name, and their long flags. */
export const WORKER_SECRET_FLAGS: Readonly<Record<string, string>> = { token: '--token', psk: '--psk', passkey: '--passkey', certKeyPass: '--cert-key-pass' };
export const HUB_SECRET_FLAGS: Readonly<Record<string, string>> = { psk: '--psk' };

/**
 * Sets the process title to `argv` with the value of every flag in `flags` replaced by `***` (both
 * `--token T` and `--token=T`). Does nothing when no secret flag is present.
 */
export function hideSecretArguments(flags: readonly string[], argv: readonly string[] = process.argv): boolean {
  const shown: string[] = [];
  let hidden = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const flag = flags.find((f) => arg === f || arg.startsWith(`${f}=`));
    if (flag === undefined) shown.push(arg);
    else if (arg === flag) {
      shown.push(flag, '***');
      i += 1;
      hidden = true;
    } else {
      shown.push(`${flag}=***`);
      hidden = true;
    }
  }
  if (!hidden) return false;
  // argv[0] is node and argv[1] the bin script: show them as `cla-worker`, like the command the user typed.
  process.title = [path.basename(shown[1] ?? 'cla', '.js'), ...shown.slice(2)].join(' ');
  return true;
}

/** The secret in `file`: its text without the trailing newline. A file others may read is tightened first. */
export function readSecretFile(file: string, option: string, warn: (message: string) => void): string {
  tightenToOwnerOnly(file, `${option} file`, warn);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`Cannot read the ${option} file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix the path`, { cause: error, data: { option, path: file } });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.trim() === '' || secret.includes('\n')) throw new InvalidArgumentError(`Expected the ${option} file ${file} to hold one line with the secret, got ${secret.trim() === '' ? 'an empty file' : 'several lines'}`, { data: { option, path: file } });
  return secret;
}

/**
 * Fills each secret `name` from `<name>File` (a flag) or `<ENV>_FILE` (a variable): the flag lands in the
 * returned flags, the variable in the returned environment, so the usual precedence (flags, environment,
 * config file) still holds. Giving both the secret and its file at one level is refused.
 */
export function resolveSecretFiles(
  flags: Readonly<Record<string, unknown>>,
  env: NodeJS.ProcessEnv,
  secrets: Readonly<Record<string, string>>,
  envName: (name: string) => string,
  warn: (message: string) => void,
): { flags: Record<string, unknown>; env: NodeJS.ProcessEnv } {
  const outFlags: Record<string, unknown> = { ...flags };
  const outEnv: NodeJS.ProcessEnv = { ...env };
  for (const [name, flag] of Object.entries(secrets)) {
    const file = flags[`${name}File`];
    if (typeof file === 'string') {
      if (flags[name] !== undefined) throw new InvalidArgumentError(`Expected only one of \`${flag}\` and \`${flag}-file\`, got both`);
      outFlags[name] = readSecretFile(file, `${flag}-file`, warn);
    }
    const variable = envName(name);
    const envFile = env[`${variable}_FILE`];
    if (envFile) {
      if (env[variable]) throw new InvalidArgumentError(`Expected only one of ${variable} and ${variable}_FILE, got both`);
      outEnv[variable] = readSecretFile(envFile, `${variable}_FILE`, warn);
    }
  }
  return { flags: outFlags, env: outEnv };
}
