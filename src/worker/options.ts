/**
 * The worker's options, merged from four places in this order of precedence: command-line flags,
 * `CLA_WORKER_<OPTION>` environment variables (Resoto's convention: the option name upper-cased, dashes as
 * underscores; `resotoworker` reads `RESOTOWORKER_<OPTION>` first), the config file's selected
 * registration, the config file's top level; then defaults.
 * Lists (`tags`, `envs`) and scalars are taken whole from the highest place that sets them;
 * `overrides` are merged key by key.
 */
import { ClaError, describeValue, ErrorCode, InvalidArgumentError } from '../errors.ts';
import {
  configCandidates,
  findConfigFile,
  loadConfigFile,
  OVERRIDE_KEY,
  parseBooleanText,
  splitList,
  toHubUrl,
  type ConfigSource,
  type WorkerFileSettings,
  type WorkerRegistration,
} from './config-file.ts';

/** The hub the worker dials when no URL is configured. */
export const DEFAULT_HUB_URL = 'ws://127.0.0.1:8733';

/** The subscriber id used when the worker has no id either. */
export const DEFAULT_SUBSCRIBER_ID = 'cla.worker';

/** The prefix of `cla-worker`'s environment variables. */
export const CLA_WORKER_ENV_PREFIX = 'CLA_WORKER_';

/** Everything the worker commands need to know, after merging. */
export interface WorkerOptions {
  /** The worker id, as registered with the hub. @default the file's only registration, if it has one */
  id: string | undefined;
  /** The registration token: the worker's password. @default the selected registration's token */
  token: string | undefined;
  /** The project passkey `register` presents. @default undefined */
  passkey: string | undefined;
  /** The hub's websocket URL (the first of {@link WorkerOptions.urls}); `http(s)://` is accepted and converted. @default DEFAULT_HUB_URL */
  url: string;
  /**
   * Every hub URL given (`--url A --url B`, `CLA_WORKER_URL=A,B`, `url: [A, B]`): `run` moves to the next
   * one on each disconnect or failed dial. @default [url]
   */
  urls: string[];
  /** Capabilities offered to the hub (`java`, `nodejs`). @default [] */
  tags: string[];
  /** Environments the worker serves (`QA`, `PROD`); case-sensitive. @default [] */
  envs: string[];
  /** Log debug detail. Mutually exclusive with `quiet` within one source. @default false */
  verbose: boolean;
  /** Only log errors. @default false */
  quiet: boolean;
  /** The config file that was read. @default undefined (none found) */
  config: string | undefined;
  /** How {@link WorkerOptions.config} was found. @default undefined */
  configSource: ConfigSource | undefined;
  /** The config paths looked at, in order, ending with the one used. */
  configSearched: string[];
  /** Keys of the config file that mean nothing here (typos, most likely): for the CLI to warn about. @default [] */
  unknownConfigKeys: string[];
  /** Write every frame to this file (see transport/recorder). @default undefined */
  record: string | undefined;
  /** Jobs run at once. @default 1 */
  concurrency: number;
  /** The id this worker subscribes to actions with. @default the worker id, else DEFAULT_SUBSCRIBER_ID */
  subscriberId: string;
  /** Pre-shared key for the hub connection. @default undefined */
  psk: string | undefined;
  /** Path to a CA certificate (PEM) to trust for `wss://`. @default undefined (system CAs) */
  caCert: string | undefined;
  /** Path to a client certificate (PEM). @default undefined */
  cert: string | undefined;
  /** Path to the client certificate's key (PEM); needs `cert`. @default undefined */
  certKey: string | undefined;
  /** Passphrase of `certKey`; needs `certKey`. @default undefined */
  certKeyPass: string | undefined;
  /** Skip TLS certificate verification. @default false */
  noVerifyCerts: boolean;
  /** `--override key=value` settings, later ones winning. @default {} */
  overrides: Record<string, string>;
  /** Daemon log file. @default undefined (the daemon picks one) */
  logfile: string | undefined;
  /** Daemon pid file. @default undefined (the daemon picks one) */
  pidfile: string | undefined;
  /**
   * Where the worker records running jobs and transfers, so that its next start cleans up after a crash.
   * @default undefined (`$XDG_STATE_HOME/cla-worker/<id>`, else `~/.local/state/cla-worker/<id>`)
   */
  stateDir: string | undefined;
  /** Verbs the hub may use (`--allow exec,ship`, config `allow_verbs`). @default [] (every verb) */
  allow: string[];
  /** Verbs refused (`--deny eval`, config `deny_verbs`). @default [] */
  deny: string[];
  /** Folders ship and fetch may touch (`--root /opt/app`, repeatable; config `roots`). @default [] (anywhere) */
  roots: string[];
}

/** Input of {@link parseWorkerOptions}. */
export interface ParseWorkerOptionsInput {
  /**
   * Flags as commander returns them (camelCase). Only flags the user gave may be present: a commander
   * default would hide the environment and the file. `tags`/`tag` and `envs`/`env` may be strings or
   * lists; `verbose` a boolean or a count; `--no-verify-certs` may arrive as `verifyCerts: false`.
   */
  flags: Readonly<Record<string, unknown>>;
  /** Read for `CLA_WORKER_*` (see `envPrefixes`), and `HOME` when `home` is absent. */
  env: NodeJS.ProcessEnv;
  /**
   * Prefixes of the option variables, the first one set winning (`resotoworker`: `RESOTOWORKER_`,
   * then `CLA_WORKER_`). `CLA_WORKER_CONFIG` names the config file whatever the prefixes.
   * @default [CLA_WORKER_ENV_PREFIX]
   */
  envPrefixes?: readonly string[];
  /** The subscriber id when neither it nor a worker id is given. @default DEFAULT_SUBSCRIBER_ID */
  defaultSubscriberId?: string;
  /** The hub URL when none is given. @default DEFAULT_HUB_URL */
  defaultUrl?: string;
  /** The working directory, for the config lookup. */
  cwd: string;
  /** The home directory. @default env.HOME */
  home?: string;
  /** The system-wide config file. @default '/etc/cla-worker.yml' */
  etcPath?: string;
  /**
   * Pick the file's only registration when no id is given, and refuse to guess among several. `register`
   * turns this off, since it creates a registration. An id that is given always selects its registration.
   * @default true
   */
  implicitRegistration?: boolean;
}

/** One place options come from, with values already checked. */
type Layer = Omit<WorkerFileSettings, 'url'> & { id?: string; token?: string; url?: string[] };
type Kind = 'string' | 'bool' | 'int' | 'list' | 'urls';
type ScalarKey = Exclude<keyof Layer, 'overrides'>;

const KINDS: Record<ScalarKey, Kind> = {
  id: 'string', token: 'string', passkey: 'string', url: 'urls', tags: 'list', envs: 'list', verbose: 'bool',
  quiet: 'bool', concurrency: 'int', subscriberId: 'string', psk: 'string', caCert: 'string', cert: 'string',
  certKey: 'string', certKeyPass: 'string', noVerifyCerts: 'bool', record: 'string', logfile: 'string',
  pidfile: 'string', stateDir: 'string', allow: 'list', deny: 'list', roots: 'list',
};
/**
 * Other spellings of an option: singular ones merged into the list option (`--tag java --tag nodejs`),
 * and Resoto's `--resotocore-uri` for `--url` (both given with different values is an error).
 */
const ALIASES: Partial<Record<ScalarKey, string>> = { tags: 'tag', envs: 'env', roots: 'root', url: 'resotocoreUri' };

/** `subscriberId` -> `CLA_WORKER_SUBSCRIBER_ID` (`RESOTOWORKER_SUBSCRIBER_ID` with that prefix). */
export function envVarName(option: string, prefix = CLA_WORKER_ENV_PREFIX): string {
  return `${prefix}${option.replace(/[A-Z]/g, (c) => `_${c}`).replace(/-/g, '_').toUpperCase()}`;
}

/**
 * `--override` entries from one variable: separated by commas (`a=1,b=2`) or, as Resoto's nargs
 * options take them, by spaces (`a=1 b=2`); a separator only counts before a `key=`, so values may
 * hold commas and spaces.
 */
export function splitOverrideVariable(text: string): string[] {
  return text.split(/(?:,|\s+)(?=\s*[A-Za-z_][\w.-]*=)/).map((entry) => entry.trim()).filter((entry) => entry !== '');
}

/**
 * Merges flags, environment, config file and defaults into {@link WorkerOptions}.
 * @throws InvalidArgumentError for a malformed value (naming the flag, variable or file key), for several
 *   registrations and no id, or for conflicting options.
 * @throws ClaError `CONFIG_MISSING` when `--config`/`CLA_WORKER_CONFIG` names a missing file.
 */
export function parseWorkerOptions(input: ParseWorkerOptionsInput): WorkerOptions {
  const { flags, env } = input;
  // Each option with its alias (`tags` and `tag`), as [value, the name to blame in an error].
  const sources = (get: (name: string) => unknown, name: (key: string) => string) => (key: ScalarKey) =>
    [key, ALIASES[key]].flatMap((k): Array<[unknown, string]> => (k === undefined ? [] : [[get(name(k)), name(k)]]));
  const flagLayer = readLayer(sources((n) => flags[n], (k) => k), true);
  if (flagLayer.noVerifyCerts === undefined && flags.verifyCerts === false) flagLayer.noVerifyCerts = true;
  flagLayer.overrides = parseOverrides(flags.override, 'override');
  const prefixes = input.envPrefixes ?? [CLA_WORKER_ENV_PREFIX];
  const envLayers = prefixes.map((prefix) => {
    const layer = readLayer(sources((n) => env[n], (k) => envVarName(k, prefix)), false);
    const overrideVar = envVarName('override', prefix);
    const overrideText = env[overrideVar];
    layer.overrides = parseOverrides(overrideText === undefined ? undefined : splitOverrideVariable(overrideText), overrideVar);
    return layer;
  });
  const envId = envLayers.find((layer) => layer.id !== undefined)?.id;

  const explicit = flags.config === undefined ? undefined : checkString(flags.config, 'config');
  const lookup = { explicit, env, cwd: input.cwd, home: input.home, etcPath: input.etcPath };
  const candidates = configCandidates(lookup).map((c) => c.path);
  const found = findConfigFile(lookup);
  const file = found ? loadConfigFile(found.path) : undefined;

  let registration: WorkerRegistration | undefined;
  if (file) {
    const wanted = flagLayer.id ?? envId ?? file.defaultId;
    if (wanted !== undefined) {
      registration = file.registrations.find((r) => r.id === wanted);
    } else if (input.implicitRegistration ?? true) {
      if (file.registrations.length === 1) registration = file.registrations[0];
      if (file.registrations.length > 1) {
        const ids = file.registrations.map((r) => r.id).join(', ');
        throw new InvalidArgumentError(
          `${file.path} has ${file.registrations.length} registrations (${ids}): pass --id ID (or set CLA_WORKER_ID) to choose one`,
          { data: { path: file.path, ids: file.registrations.map((r) => r.id) } },
        );
      }
    }
  }
  const urlList = (url: string | string[] | undefined) => (url === undefined ? undefined : typeof url === 'string' ? [url] : url);
  const layers: Layer[] = [
    flagLayer,
    ...envLayers,
    { ...registration, url: urlList(registration?.url) },
    { ...file?.settings, url: urlList(file?.settings.url), id: file?.defaultId },
  ];
  const pick = <K extends keyof Layer>(key: K): { value: Layer[K]; level: number } => {
    const level = layers.findIndex((l) => l[key] !== undefined);
    return { value: level < 0 ? undefined : layers[level]![key], level };
  };

  const verbose = pick('verbose');
  const quiet = pick('quiet');
  if (verbose.value && quiet.value && verbose.level === quiet.level) {
    const where = ['flags', ...prefixes.map((prefix) => `${prefix}* variables`), 'registration', file?.path][verbose.level];
    throw new InvalidArgumentError(`Expected only one of \`verbose\` and \`quiet\`, got both (from ${where})`);
  }
  const loudest = verbose.value && (!quiet.value || verbose.level < quiet.level);
  const id = pick('id').value;
  const urls = pick('url').value ?? [input.defaultUrl ?? DEFAULT_HUB_URL];
  const options: WorkerOptions = {
    id,
    token: pick('token').value,
    passkey: pick('passkey').value,
    url: urls[0]!,
    urls,
    tags: pick('tags').value ?? [],
    envs: pick('envs').value ?? [],
    verbose: loudest === true,
    quiet: quiet.value === true && !loudest,
    config: found?.path,
    configSource: found?.source,
    configSearched: found ? candidates.slice(0, candidates.indexOf(found.path) + 1) : candidates,
    unknownConfigKeys: file?.unknownKeys ?? [],
    record: pick('record').value,
    concurrency: pick('concurrency').value ?? 1,
    subscriberId: pick('subscriberId').value ?? id ?? input.defaultSubscriberId ?? DEFAULT_SUBSCRIBER_ID,
    psk: pick('psk').value,
    caCert: pick('caCert').value,
    cert: pick('cert').value,
    certKey: pick('certKey').value,
    certKeyPass: pick('certKeyPass').value,
    noVerifyCerts: pick('noVerifyCerts').value ?? false,
    overrides: Object.assign({}, ...layers.map((l) => l.overrides ?? {}).reverse()),
    logfile: pick('logfile').value,
    pidfile: pick('pidfile').value,
    stateDir: pick('stateDir').value,
    allow: pick('allow').value ?? [],
    deny: pick('deny').value ?? [],
    roots: pick('roots').value ?? [],
  };
  if (options.certKey !== undefined && options.cert === undefined) {
    throw new InvalidArgumentError('Expected `cert` to be set when `certKey` is, got `undefined`');
  }
  if (options.certKeyPass !== undefined && options.certKey === undefined) {
    throw new InvalidArgumentError('Expected `certKey` to be set when `certKeyPass` is, got `undefined`');
  }
  return options;
}

/**
 * Asserts that the worker can authenticate, with a message that says what to do.
 * @throws ClaError `CONFIG_MISSING` when `id` or `token` is missing.
 */
export function requireCredentials(options: WorkerOptions): asserts options is WorkerOptions & { id: string; token: string } {
  if (options.id !== undefined && options.token !== undefined) return;
  const where = options.config
    ? `config file: ${options.config}`
    : `no config file found; looked for ${options.configSearched.join(', ')}`;
  const data = { missing: options.id === undefined ? ['id', 'token'] : ['token'], config: options.config, searched: options.configSearched };
  if (options.id === undefined) {
    throw new ClaError(
      ErrorCode.ConfigMissing,
      `No worker id: pass --id ID --token TOKEN, set CLA_WORKER_ID/CLA_WORKER_TOKEN, or save a registration with \`cla-worker register --save --passkey KEY\` (${where})`,
      { data },
    );
  }
  throw new ClaError(
    ErrorCode.ConfigMissing,
    `No token for worker \`${options.id}\`: pass --token TOKEN, set CLA_WORKER_TOKEN, or save a registration with \`cla-worker register --id ${options.id} --save --passkey KEY\` (${where}${options.config ? `, which has no registration \`${options.id}\`` : ''})`,
    { data },
  );
}

/** Reads every scalar and list option from one place; `sources` gives an option's (and alias's) values. */
function readLayer(sources: (key: ScalarKey) => Array<[unknown, string]>, fromFlags: boolean): Layer {
  const layer: Record<string, unknown> = {};
  for (const key of Object.keys(KINDS) as ScalarKey[]) {
    const given = sources(key);
    const kind = KINDS[key];
    // A scalar with another spelling (`url`, `resotocoreUri`): the one set; both set must agree.
    const set = given.filter(([v]) => v !== undefined && v !== null && v !== '');
    if (kind !== 'list' && set.length > 1 && set.some(([v]) => JSON.stringify(v) !== JSON.stringify(set[0]![0]))) {
      throw new InvalidArgumentError(`Expected only one of \`${set.map(([, name]) => name).join('` and `')}\`, got ${set.map(([v]) => describeValue(v)).join(' and ')}`, {
        data: { options: set.map(([, name]) => name) },
      });
    }
    const [value, label] = set[0] ?? given[0]!;
    let parsed: unknown;
    if (kind === 'list') {
      const items: string[] = [];
      for (const [v, name] of given) {
        for (const item of v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]) {
          if (typeof item !== 'string') throw expected(name, 'a comma separated string or a list of strings', item);
          items.push(item);
        }
      }
      const list = splitList(items);
      parsed = list.length > 0 ? list : undefined;
    } else if (value !== undefined && value !== null && value !== '') {
      parsed = convert(kind, value, label, fromFlags);
    }
    if (parsed !== undefined) layer[key] = parsed;
  }
  return layer as Layer;
}

function convert(kind: Exclude<Kind, 'list'>, value: unknown, label: string, fromFlags: boolean): unknown {
  switch (kind) {
    case 'string':
      return checkString(value, label);
    case 'urls': {
      // `--url A --url B` (a list from commander), or `A,B` in one flag or variable.
      const items = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : [];
      const texts = splitList(items);
      if (texts.length === 0) throw expected(label, 'a ws://, wss://, http:// or https:// URL', value);
      return texts.map((text) => toHubUrl(text) ?? fail(expected(label, 'a ws://, wss://, http:// or https:// URL', text)));
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      // commander counts a repeated `-v` as a number.
      if (fromFlags && typeof value === 'number' && Number.isInteger(value) && value >= 0) return value > 0;
      const b = typeof value === 'string' ? parseBooleanText(value) : undefined;
      if (b === undefined) throw expected(label, 'true or false (also 1/0, yes/no)', value);
      return b;
    }
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n) || n <= 0) throw expected(label, 'a positive integer', value);
      return n;
    }
  }
}

function checkString(value: unknown, label: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw expected(label, 'a non-empty string', value);
  return value;
}

/** `key=value` entries; the first `=` splits, so values may contain `=`. */
function parseOverrides(raw: unknown, label: string): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  const entries = Array.isArray(raw) ? raw : [raw];
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const eq = typeof entry === 'string' ? entry.indexOf('=') : -1;
    const key = typeof entry === 'string' ? entry.slice(0, eq).trim() : '';
    if (eq < 0 || !OVERRIDE_KEY.test(key)) throw expected(label, 'key=value entries (key: letters, digits, `_`, `.`, `-`)', entry);
    result[key] = (entry as string).slice(eq + 1).trim();
  }
  return result;
}

function fail(error: Error): never {
  throw error;
}

function expected(label: string, what: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected \`${label}\` to be ${what}, got ${describeValue(value)}`, { data: { option: label } });
}
