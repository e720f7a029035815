/**
 * The worker's `cla-worker.yml`: where it is looked up, what it may contain, and how `register --save`
 * writes a registration into it.
 *
 * The format follows Clarive's own cla-worker (github.com/clarive/cla-worker, `src/config.ts` and
 * `internal/config/config.go`): top-level settings, optionally a flat `id`/`token` pair, and a
 * `registrations:` list of `{id, token, url}` entries. Clarive keys this worker has no use for (`origin`,
 * `daemon`, `server`, `chunk_size`, ...) are accepted and ignored; any other key is reported in
 * {@link WorkerConfigFile.unknownKeys} so the CLI can warn about typos without refusing the file.
 *
 * Files are read with YAML's failsafe schema, so every scalar stays the text the user wrote: an id
 * `0123` or a token `1e100` must not turn into a number. Booleans and integers are then parsed here,
 * with the same rules as environment variables.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Document, isMap, isScalar, isSeq, parse, parseDocument, Scalar, YAMLMap, YAMLSeq, type Pair } from 'yaml';
import { z } from 'zod';
import { ClaError, describeValue, ErrorCode, InvalidArgumentError } from '../errors.ts';

/** The config file's name in the working directory, the home directory and `/etc`. */
export const CONFIG_FILE_NAME = 'cla-worker.yml';

/** The last place looked at. */
export const DEFAULT_ETC_CONFIG = '/etc/cla-worker.yml';

/** Where a config file was found: `--config`, `CLA_WORKER_CONFIG`, the working directory, `$HOME`, `/etc`. */
export type ConfigSource = 'flag' | 'env' | 'cwd' | 'home' | 'etc';

/** Input of {@link findConfigFile}. */
export interface FindConfigInput {
  /** The `--config`/`-c` path, relative to `cwd`. */
  explicit?: string;
  /** Read for `CLA_WORKER_CONFIG` (and `HOME` when `home` is not given). */
  env: NodeJS.ProcessEnv;
  /** The working directory. */
  cwd: string;
  /** The home directory. @default env.HOME */
  home?: string;
  /** The system-wide file. @default DEFAULT_ETC_CONFIG */
  etcPath?: string;
}

/** A config file that was found. */
export interface FoundConfig {
  path: string;
  source: ConfigSource;
}

/** One `id`/`token` pair; `url`, `tags` and `envs` override the file's top level for this worker. */
export interface WorkerRegistration {
  id: string;
  token: string;
  /** One hub URL, or several (`url: [A, B]`) the worker moves between. */
  url?: string | string[];
  tags?: string[];
  envs?: string[];
}

/** Top-level settings, named as in {@link WorkerOptions} (the file spells them in snake_case). */
export interface WorkerFileSettings {
  /** One hub URL, or several (`url: [A, B]`) the worker moves between on disconnect. */
  url?: string | string[];
  passkey?: string;
  verbose?: boolean;
  quiet?: boolean;
  tags?: string[];
  envs?: string[];
  concurrency?: number;
  subscriberId?: string;
  psk?: string;
  caCert?: string;
  cert?: string;
  certKey?: string;
  certKeyPass?: string;
  noVerifyCerts?: boolean;
  record?: string;
  logfile?: string;
  pidfile?: string;
  /** The worker's state folder (`state_dir`). */
  stateDir?: string;
  overrides?: Record<string, string>;
  /** Verbs the hub may use (`allow_verbs`, as in Clarive's worker). */
  allow?: string[];
  /** Verbs refused (`deny_verbs`). */
  deny?: string[];
  /** Folders ship and fetch may touch (`roots`). */
  roots?: string[];
}

/** A loaded and validated config file. */
export interface WorkerConfigFile {
  /** The file it was read from. */
  path: string;
  settings: WorkerFileSettings;
  /** A top-level `id`: the registration picked when none is named on the command line. */
  defaultId?: string;
  /** Every registration, a flat top-level `id` + `token` first. Ids are unique. */
  registrations: WorkerRegistration[];
  /** Keys neither this worker nor Clarive's knows, as paths (`registrations[0].tag`). */
  unknownKeys: string[];
}

/** The candidates in lookup order; an explicit path (flag, else env) replaces the rest. */
export function configCandidates(input: FindConfigInput): FoundConfig[] {
  const { explicit, env, cwd } = input;
  if (explicit) return [{ path: path.resolve(cwd, explicit), source: 'flag' }];
  if (env.CLA_WORKER_CONFIG) return [{ path: path.resolve(cwd, env.CLA_WORKER_CONFIG), source: 'env' }];
  const home = input.home ?? env.HOME;
  const list: FoundConfig[] = [{ path: path.join(cwd, CONFIG_FILE_NAME), source: 'cwd' }];
  if (home) list.push({ path: path.join(home, CONFIG_FILE_NAME), source: 'home' });
  list.push({ path: input.etcPath ?? DEFAULT_ETC_CONFIG, source: 'etc' });
  return list.filter((c, i) => list.findIndex((o) => o.path === c.path) === i);
}

/**
 * Finds the config file: `--config`, `CLA_WORKER_CONFIG`, `<cwd>/cla-worker.yml`, `<home>/cla-worker.yml`,
 * then `/etc/cla-worker.yml`. Returns `null` when none exists.
 * @throws ClaError `CONFIG_MISSING` when the path given by flag or env var is not a file: a typo there
 *   must not silently fall back to another file.
 */
export function findConfigFile(input: FindConfigInput): FoundConfig | null {
  for (const candidate of configCandidates(input)) {
    if (isFile(candidate.path)) return candidate;
    if (candidate.source === 'flag' || candidate.source === 'env') {
      const by = candidate.source === 'flag' ? '--config' : 'CLA_WORKER_CONFIG';
      throw new ClaError(ErrorCode.ConfigMissing, `Config file ${candidate.path} (from ${by}) does not exist or is not a file`, {
        data: { path: candidate.path, source: candidate.source },
      });
    }
  }
  return null;
}

/** Reads and validates a config file. @throws InvalidArgumentError naming the file and the key. */
export function loadConfigFile(file: string): WorkerConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ClaError(ErrorCode.ConfigMissing, `Cannot read config file ${file}: ${(cause as Error).message}`, {
      cause,
      data: { path: file },
    });
  }
  return parseConfigText(text, file);
}

/** Validates config text; `file` only names it in errors. @throws InvalidArgumentError */
export function parseConfigText(text: string, file: string): WorkerConfigFile {
  return fromDocument(readDocument(text, file), file);
}

/**
 * Adds the registration, or replaces the token (and `url`, when given) of the one with the same id,
 * keeping every other key and comment. A flat file (`id` + `token` at the top level) with another id is
 * turned into a `registrations:` list. The file is created when missing, written atomically (temp file +
 * rename) and left with mode 0600, since tokens are passwords.
 */
export function saveRegistration(file: string, registration: { id: string; token: string; url?: string }): void {
  const { id, token, url } = registration;
  for (const [key, value] of Object.entries({ id, token, url })) {
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) {
      throw new InvalidArgumentError(`Expected \`${key}\` to be a non-empty string, got ${describeValue(value)}`);
    }
  }
  const target = fs.existsSync(file) ? fs.realpathSync(file) : path.resolve(file);
  const doc = fs.existsSync(target) ? readDocument(fs.readFileSync(target, 'utf8'), file) : new Document(null, { schema: 'failsafe' });
  fromDocument(doc, file); // refuse to rewrite a file we could not load afterwards
  if (!isMap(doc.contents)) doc.contents = new YAMLMap();
  const root = doc.contents as YAMLMap;
  const entry: Record<string, string> = url === undefined ? { id, token } : { id, token, url };

  if (plain(root.get('id')) === id && plain(root.get('token')) !== undefined) {
    setText(root, 'token', token);
    if (url !== undefined) setText(root, 'url', url);
  } else {
    let list: unknown = root.get('registrations', true);
    if (!isSeq(list)) {
      list = new YAMLSeq();
      root.set('registrations', list);
    }
    const seq = list as YAMLSeq;
    if (plain(root.get('id')) !== undefined && plain(root.get('token')) !== undefined) {
      // Move the flat pair's own nodes, so comments on those lines come along; a comment above the
      // file's first key reads as the file's header, so that one stays at the top.
      const first = root.items[0]?.key;
      if (isScalar(first) && (first.value === 'id' || first.value === 'token') && first.commentBefore) {
        doc.commentBefore = [doc.commentBefore, first.commentBefore].filter(Boolean).join('\n');
        first.commentBefore = null;
      }
      const moved = new YAMLMap();
      for (const key of ['id', 'token']) moved.items.push(takePair(root, key));
      seq.items.unshift(moved);
    }
    const existing = seq.items.find((item) => isMap(item) && plain(item.get('id')) === id) as YAMLMap | undefined;
    const node = existing ?? new YAMLMap();
    for (const [key, value] of Object.entries(entry)) setText(node, key, value);
    if (!existing) seq.items.push(node);
  }

  const out = doc.toString();
  parseConfigText(out, file);
  writePrivateFile(target, out);
}

// --- reading -------------------------------------------------------------------------------------

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function readDocument(text: string, file: string): Document {
  const doc = parseDocument(text, { schema: 'failsafe', prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new InvalidArgumentError(`${file}: not valid YAML: ${doc.errors[0]!.message}`, { data: { path: file } });
  }
  return doc;
}

const LIST_MSG = 'must be a comma separated string or a list of strings';
const BOOL_MSG = 'must be true or false (yes/no and 1/0 also work)';

/** `true/false/1/0/yes/no/on/off`, any case; `undefined` for anything else. Shared with env vars. */
export function parseBooleanText(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(t)) return true;
  if (['false', '0', 'no', 'off'].includes(t)) return false;
  return undefined;
}

/** Splits comma separated entries, trims, drops empties and repeats (first one kept). */
export function splitList(values: string | readonly string[]): string[] {
  const parts = (typeof values === 'string' ? [values] : values).flatMap((v) => v.split(','));
  return [...new Set(parts.map((p) => p.trim()).filter((p) => p !== ''))];
}

/** The hub URL as ws(s)://, `http(s)://` converted; `undefined` when it is not such a URL. */
export function toHubUrl(text: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(text.trim());
  } catch {
    return undefined;
  }
  const protocol = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' }[parsed.protocol];
  if (protocol === undefined || parsed.host === '') return undefined;
  return protocol + text.trim().slice(parsed.protocol.length);
}

const message = (what: string) => ({ error: (i: { input: unknown }) => (i.input === undefined ? 'is required' : what) });
const text = z.string(message('must be a string'));
const list = z.union([z.string(), z.array(z.string())], message(LIST_MSG)).transform((v) => splitList(v));
const bool = z.string(message(BOOL_MSG)).transform((v, ctx) => {
  const b = parseBooleanText(v);
  if (b === undefined) ctx.issues.push({ code: 'custom', message: BOOL_MSG, input: v });
  return b ?? z.NEVER;
});
// Clarive's Go worker counts `-v` flags, so `verbose: 2` is a verbose file too.
const verbose = z.string(message(BOOL_MSG)).transform((v, ctx) => {
  const b = /^\d+$/.test(v.trim()) ? Number(v) > 0 : parseBooleanText(v);
  if (b === undefined) ctx.issues.push({ code: 'custom', message: BOOL_MSG, input: v });
  return b ?? z.NEVER;
});
const positiveInt = z.string(message('must be a positive integer')).transform((v, ctx) => {
  if (!/^\s*\d+\s*$/.test(v) || !(Number(v) > 0) || !Number.isSafeInteger(Number(v))) {
    ctx.issues.push({ code: 'custom', message: 'must be a positive integer', input: v });
  }
  return Number(v);
});
const URL_MSG = 'must be a ws://, wss://, http:// or https:// URL';
/** `url: ws://a` stays one string; `url: [ws://a, ws://b]` (several hubs) a list of converted URLs. */
const hubUrls = z
  .union([z.string(), z.array(z.string()).min(1)], message(`${URL_MSG}, or a non-empty list of them`))
  .transform((v, ctx) => {
    const urls = (typeof v === 'string' ? [v] : v).map((item, i) => {
      const url = toHubUrl(item);
      if (url === undefined) ctx.issues.push({ code: 'custom', message: URL_MSG, input: item, ...(typeof v === 'string' ? {} : { path: [i] }) });
      return url ?? '';
    });
    return typeof v === 'string' ? urls[0]! : urls;
  });
/** An `--override` key: `collector.timeout`, `max-jobs`. */
export const OVERRIDE_KEY = /^[A-Za-z_][\w.-]*$/;
const OVERRIDES_MSG = 'must be a mapping of `key: value` settings';
const PLUGINS_MSG = 'must map plugin names to their settings, e.g. `fs: { roots: /data/tmp, dry_run: true }`';
/** `plugins: { fs: { roots: [/a, /b], dry_run: true } }`: per-plugin settings (lists become comma lists). */
const plugins = z.record(
  z.string().regex(/^[A-Za-z0-9_-]+$/, 'has a plugin name that is not letters, digits, `_` or `-`'),
  z.record(z.string().regex(OVERRIDE_KEY), z.union([z.string(), z.array(z.string())]), message(PLUGINS_MSG)),
  message(PLUGINS_MSG),
);
const overrides = z.record(z.string().regex(OVERRIDE_KEY, 'has a key that is not letters, digits, `_`, `.` or `-`'), z.string(), message(OVERRIDES_MSG));

const registrationShape = { id: text, token: text, url: hubUrls.optional(), tags: list.optional(), envs: list.optional() };
const registrationSchema = z.object(registrationShape, message('must be a mapping with `id` and `token`'));
const fileShape = {
  id: text.optional(),
  token: text.optional(),
  url: hubUrls.optional(),
  passkey: text.optional(),
  verbose: verbose.optional(),
  quiet: bool.optional(),
  tags: list.optional(),
  envs: list.optional(),
  concurrency: positiveInt.optional(),
  subscriber_id: text.optional(),
  psk: text.optional(),
  ca_cert: text.optional(),
  cert: text.optional(),
  cert_key: text.optional(),
  cert_key_pass: text.optional(),
  no_verify_certs: bool.optional(),
  record: text.optional(),
  logfile: text.optional(),
  pidfile: text.optional(),
  state_dir: text.optional(),
  overrides: overrides.optional(),
  plugins: plugins.optional(),
  allow_verbs: list.optional(),
  deny_verbs: list.optional(),
  roots: list.optional(),
  registrations: z.array(registrationSchema, message('must be a list of registrations (`- id: ...` / `token: ...`)')).optional(),
};
const fileSchema = z.object(fileShape);
/** Keys of Clarive's cla-worker that this worker accepts and ignores. */
const CLARIVE_ONLY_KEYS = ['origin', 'daemon', 'home', 'server', 'server_mid', 'no_server', 'user', 'name', 'chunk_size'];

function fromDocument(doc: Document, file: string): WorkerConfigFile {
  const raw: unknown = doc.toJS();
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new InvalidArgumentError(`${file}: expected \`key: value\` settings at the top level, got ${Array.isArray(raw) ? 'a list' : 'a single value'}`, {
      data: { path: file },
    });
  }
  const top = dropEmpty((raw ?? {}) as Record<string, unknown>);
  if (Array.isArray(top.registrations)) top.registrations = top.registrations.map((r) => (isPlainObject(r) ? dropEmpty(r) : r));
  const result = fileSchema.safeParse(top);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `\`${keyPath(i.path)}\` ${i.message}`);
    throw new InvalidArgumentError(`${file}: ${issues.join('; ')}`, {
      data: { path: file, keys: result.error.issues.map((i) => keyPath(i.path)) },
    });
  }
  const v = result.data;
  const fail = (msg: string, key: string): never => {
    throw new InvalidArgumentError(`${file}: ${msg}`, { data: { path: file, keys: [key] } });
  };
  if (v.token !== undefined && v.id === undefined) {
    fail('`token` is set without `id`: add the worker `id` next to it, or list both under `registrations`', 'token');
  }
  const registrations: WorkerRegistration[] = [];
  if (v.id !== undefined && v.token !== undefined) registrations.push({ id: v.id, token: v.token });
  for (const [index, reg] of (v.registrations ?? []).entries()) {
    if (registrations.some((r) => r.id === reg.id)) {
      fail(`\`registrations[${index}].id\` repeats \`${reg.id}\`; each id may be registered once per file`, `registrations[${index}].id`);
    }
    registrations.push(stripUndefined(reg));
  }
  const settings: WorkerFileSettings = stripUndefined({
    url: v.url, passkey: v.passkey, verbose: v.verbose, quiet: v.quiet, tags: v.tags, envs: v.envs,
    concurrency: v.concurrency, subscriberId: v.subscriber_id, psk: v.psk, caCert: v.ca_cert, cert: v.cert,
    certKey: v.cert_key, certKeyPass: v.cert_key_pass, noVerifyCerts: v.no_verify_certs, record: v.record,
    logfile: v.logfile, pidfile: v.pidfile, stateDir: v.state_dir, overrides: pluginOverrides(v.plugins, v.overrides), allow: v.allow_verbs, deny: v.deny_verbs,
    roots: v.roots,
  });
  const known = new Set([...Object.keys(fileShape), ...CLARIVE_ONLY_KEYS]);
  const unknownKeys = Object.keys(top).filter((k) => !known.has(k));
  (Array.isArray(top.registrations) ? top.registrations : []).forEach((r, i) => {
    for (const k of Object.keys(r as object)) if (!(k in registrationShape)) unknownKeys.push(`registrations[${i}].${k}`);
  });
  const config: WorkerConfigFile = { path: file, settings, registrations, unknownKeys };
  if (v.id !== undefined) config.defaultId = v.id;
  return config;
}

function keyPath(parts: readonly PropertyKey[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') || '(top level)';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `passkey:` with nothing after it means "not set", as in Clarive's loaders. */
function dropEmpty(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== '' && v !== null && v !== undefined));
}

function stripUndefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

// --- writing -------------------------------------------------------------------------------------

function plain(node: unknown): string | undefined {
  const value = isScalar(node) ? node.value : node;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Sets a string, quoted when a core-schema reader (Clarive's, js-yaml) would see a number or boolean. */
function setText(map: YAMLMap, key: string, value: string): void {
  const node = new Scalar(value);
  if (parse(value) !== value || value.trim() !== value) node.type = Scalar.QUOTE_DOUBLE;
  map.set(key, node);
}

function takePair(map: YAMLMap, key: string): Pair {
  const index = map.items.findIndex((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
  return map.items.splice(index, 1)[0]!;
}

function writePrivateFile(file: string, content: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(temp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (cause) {
    fs.rmSync(temp, { force: true });
    throw new ClaError(ErrorCode.Internal, `Cannot write config file ${file}: ${(cause as Error).message}`, {
      cause,
      data: { path: file },
    });
  }
  fs.chmodSync(file, 0o600);
}

/** The `plugins:` section as `NAME.key` overrides; `overrides:` entries win over it. */
function pluginOverrides(
  section: Record<string, Record<string, string | string[]>> | undefined,
  explicit: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (section === undefined) return explicit;
  const out: Record<string, string> = {};
  for (const [plugin, settings] of Object.entries(section)) {
    for (const [key, value] of Object.entries(settings)) out[`${plugin}.${key}`] = Array.isArray(value) ? value.join(',') : value;
  }
  return { ...out, ...explicit };
}
