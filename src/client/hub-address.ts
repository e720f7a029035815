/**
 * Where a `cla-hub` command finds the hub and its admin token (issue 8): never in the hub's data file.
 *
 * Address, first found wins:
 * 1. `--hub URL` (or `CLA_HUB_URL`): the hub's websocket URL (`ws://`, `wss://`; `http(s)://` is taken
 *    as `ws(s)://`).
 * 2. The record of a running hub, when `--data FILE` or `CLA_HUB_DATA` names its data file:
 *    `FILE.hub.json`, written by `cla-hub start` (its real URL and its id).
 * 3. The client config `~/.config/cla-hub/client.yml` written by `cla-hub login` (`CLA_HUB_CLIENT_CONFIG`
 *    moves it).
 * 4. The record beside `./cla-hub.sqlite`.
 * None: CONFIG_MISSING, never a default port. A URL from a record or the client config comes with the
 * hub id it was recorded with, and the CLI leaves a server that does not announce it before sending the
 * token (HUB_MISMATCH).
 *
 * Token: `--admin-token-file F`, `CLA_HUB_ADMIN_TOKEN`, the client config, or (with a record) the
 * `.admin-token` file beside the data file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ClaError, ErrorCode, InvalidArgumentError } from '../errors.ts';
import { adminTokenFile, hubRecordFile, writePrivateFile, type HubRecord } from '../hub/hub-record.ts';
import type { ClientTlsOptions } from '../transport/ws-client.ts';

/** Default data file name (as `cla-hub start`). */
const DEFAULT_DATA_FILE = 'cla-hub.sqlite';

/** What `cla-hub login` writes. */
export interface ClientConfig {
  hub: string;
  hubId?: string;
  adminToken: string;
  caCert?: string;
  cert?: string;
  certKey?: string;
  verifyCerts?: boolean;
}

/** The connection options a command was given (flags and environment). */
export interface ConnectionFlags {
  hub?: string;
  /** The hub's data file, to find its record. */
  data?: string;
  adminTokenFile?: string;
  caCert?: string;
  cert?: string;
  certKey?: string;
  certKeyPass?: string;
  /** `--no-verify-certs` gives false. */
  verifyCerts?: boolean;
}

/** Where and how to connect. */
export interface HubAddress {
  url: string;
  token: string;
  tls?: ClientTlsOptions;
  /** The id the hub must announce; unset for an address given with --hub. */
  expectHubId?: string;
  /** Where the address came from, for messages: `--hub`, `CLA_HUB_URL`, a record or config path. */
  source: string;
}

/** The client config file. */
export function clientConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLA_HUB_CLIENT_CONFIG) return path.resolve(env.CLA_HUB_CLIENT_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'cla-hub', 'client.yml');
}

/** Writes the client config (0600: it holds the admin token). */
export function writeClientConfig(config: ClientConfig, file = clientConfigFile()): string {
  writePrivateFile(file, stringifyYaml(config));
  return file;
}

function readClientConfig(file: string): ClientConfig | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const value = parseYaml(text) as Partial<ClientConfig> | null;
  if (!value || typeof value.hub !== 'string' || typeof value.adminToken !== 'string') {
    throw new ClaError(ErrorCode.ConfigMissing, `${file} is not a cla-hub client config (it needs \`hub\` and \`adminToken\`): write it again with \`cla-hub login\``);
  }
  return value as ClientConfig;
}

/** Reads the record of a running hub, if there is one. */
export function readHubRecord(dataFile: string): HubRecord | undefined {
  try {
    const value = JSON.parse(fs.readFileSync(hubRecordFile(dataFile), 'utf8')) as HubRecord;
    return typeof value.url === 'string' && typeof value.hubId === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `http(s)://` -> `ws(s)://`; anything else but `ws(s)://` is a usage error. */
export function websocketUrl(raw: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidArgumentError(`Expected \`${flag}\` to be a URL such as wss://hub.example:8733, got \`${raw}\``);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new InvalidArgumentError(`Expected \`${flag}\` to be a ws://, wss://, http:// or https:// URL, got \`${raw}\``);
  if (url.username || url.password || url.search) throw new InvalidArgumentError(`\`${flag}\` must not carry credentials or a query: pass the token with --admin-token-file`);
  return url.toString().replace(/\/$/, '');
}

function readFileFlag(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`Cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
}

function readToken(file: string, flag: string): string {
  const token = readFileFlag(file, flag).trim();
  if (token === '') throw new InvalidArgumentError(`${flag} ${file} is empty`);
  return token;
}

/** TLS options from flags, over the client config's. */
function tlsOf(flags: ConnectionFlags, config: ClientConfig | undefined): ClientTlsOptions | undefined {
  const ca = flags.caCert ?? config?.caCert;
  const cert = flags.cert ?? config?.cert;
  const key = flags.certKey ?? config?.certKey;
  const verify = flags.verifyCerts === false ? false : config?.verifyCerts;
  if (Boolean(cert) !== Boolean(key)) throw new InvalidArgumentError('Pass both --cert and --cert-key (a client certificate and its key), or neither');
  if (ca === undefined && cert === undefined && verify === undefined) return undefined;
  return {
    ...(ca ? { ca: readFileFlag(ca, '--ca-cert') } : {}),
    ...(cert ? { cert: readFileFlag(cert, '--cert') } : {}),
    ...(key ? { key: readFileFlag(key, '--cert-key') } : {}),
    ...(flags.certKeyPass ? { passphrase: flags.certKeyPass } : {}),
    ...(verify === false ? { verify: false } : {}),
  };
}

const NOT_FOUND =
  'No hub to talk to: pass --hub URL with --admin-token-file FILE (or set CLA_HUB_URL and CLA_HUB_ADMIN_TOKEN), run `cla-hub login --hub URL --admin-token-file FILE` once, or on the hub\'s host pass --data with the data file of the running `cla-hub start`.';

/** Resolves where and how to connect; throws CONFIG_MISSING / INVALID_ARGUMENT (usage errors). */
export function resolveHubAddress(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): HubAddress {
  const configFile = clientConfigFile(env);
  const explicitData = flags.data ?? env.CLA_HUB_DATA;
  const tokenFromFlags = (): string | undefined =>
    flags.adminTokenFile !== undefined ? readToken(flags.adminTokenFile, '--admin-token-file') : env.CLA_HUB_ADMIN_TOKEN || undefined;

  const given = flags.hub ?? env.CLA_HUB_URL;
  if (given !== undefined && given !== '') {
    const config = readClientConfig(configFile);
    const url = websocketUrl(given, flags.hub !== undefined ? '--hub' : 'CLA_HUB_URL');
    const sameAsConfig = config !== undefined && websocketUrl(config.hub, configFile) === url;
    const besideData = explicitData ? path.resolve(cwd, explicitData) : undefined;
    const token = tokenFromFlags() ?? (sameAsConfig ? config.adminToken : besideData !== undefined ? readTokenBeside(besideData) : undefined);
    if (token === undefined) throw new ClaError(ErrorCode.ConfigMissing, `No admin token for ${url}: pass --admin-token-file FILE or set CLA_HUB_ADMIN_TOKEN (the hub writes it beside its data file, \`<data>.admin-token\`).`);
    return { url, token, tls: tlsOf(flags, sameAsConfig ? config : undefined), expectHubId: sameAsConfig ? config.hubId : undefined, source: flags.hub !== undefined ? '--hub' : 'CLA_HUB_URL' };
  }

  const fromRecord = (dataFile: string): HubAddress | undefined => {
    const record = readHubRecord(dataFile);
    if (!record) return undefined;
    const token = tokenFromFlags() ?? readTokenBeside(dataFile);
    return { url: record.url, token, tls: tlsOf(flags, undefined), expectHubId: record.hubId, source: hubRecordFile(dataFile) };
  };

  if (explicitData !== undefined && explicitData !== '') {
    const dataFile = path.resolve(cwd, explicitData);
    const found = fromRecord(dataFile);
    if (found) return found;
    throw new ClaError(
      ErrorCode.ConfigMissing,
      `No running hub recorded for ${dataFile} (${hubRecordFile(dataFile)} is missing): start it with \`cla-hub start --data ${explicitData}\`, or pass --hub URL with --admin-token-file FILE.`,
    );
  }
  const config = readClientConfig(configFile);
  if (config) {
    const token = tokenFromFlags() ?? config.adminToken;
    return { url: websocketUrl(config.hub, configFile), token, tls: tlsOf(flags, config), expectHubId: config.hubId, source: configFile };
  }
  const found = fromRecord(path.resolve(cwd, DEFAULT_DATA_FILE));
  if (found) return found;
  throw new ClaError(ErrorCode.ConfigMissing, NOT_FOUND);
}

function readTokenBeside(dataFile: string): string {
  const file = adminTokenFile(dataFile);
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new ClaError(ErrorCode.ConfigMissing, `No admin token at ${file}: pass --admin-token-file FILE or set CLA_HUB_ADMIN_TOKEN.`);
  }
}
