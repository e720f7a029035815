/**
 * Options of the legacy HTTP + SSE pubsub (`cla-hub start --legacy-pubsub`, issue 14) and the parsing of
 * the query string every legacy request carries. The query holds credentials (`token`, `passkey`): it is
 * read here and never logged, recorded or shown (see legacy-routes.ts).
 */
import os from 'node:os';
import { InvalidArgumentError, describeValue } from '../../errors.ts';
import type { AgentInfo } from '../../protocol/frames.ts';

/** Options for the legacy pubsub routes. */
export interface LegacyPubsubOptions {
  /** Folder for spooled ship/fetch files (created 0700, emptied on stop). @default a fresh folder in the OS temp dir */
  spoolDir?: string;
  /** How long a worker whose event stream dropped may take to reconnect before its session ends, in ms. @default 30000 */
  reconnectGraceMs?: number;
  /** Interval of SSE keep-alive comments, in ms. @default 15000 */
  keepAliveMs?: number;
  /** Commands queued for one worker and not yet acknowledged, at most. @default 256 */
  maxQueuedMessages?: number;
  /** Bytes of commands queued for one worker, at most. @default 8 MiB */
  maxQueuedBytes?: number;
  /** Largest JSON body (register, publish, close), in bytes; a `worker.result` carries the whole output. @default 16 MiB */
  maxMessageBytes?: number;
  /** Largest file a worker may push (fetch), in bytes. @default 16 GiB */
  maxFileBytes?: number;
  /** Bytes of spooled files on disk in all, at most. @default 32 GiB */
  maxSpoolBytes?: number;
  /**
   * A `capable` probe whose tags the worker did not declare is answered `false` this long after the
   * worker acknowledged it (legacy workers answer only when capable), in ms. @default 2000
   */
  capableGraceMs?: number;
}

/** {@link LegacyPubsubOptions} with every default filled in. */
export type ParsedLegacyOptions = Required<Omit<LegacyPubsubOptions, 'spoolDir'>> & { spoolDir: string | undefined };

const MiB = 1024 * 1024;

/** Fills defaults and checks ranges. */
export function parseLegacyOptions(options: LegacyPubsubOptions = {}): ParsedLegacyOptions {
  const positive = (key: keyof LegacyPubsubOptions, fallback: number): number => {
    const value = options[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new InvalidArgumentError(`Expected \`${key}\` to be a positive integer, got ${describeValue(value)}`);
    }
    return value;
  };
  if (options.spoolDir !== undefined && (typeof options.spoolDir !== 'string' || options.spoolDir === '')) {
    throw new InvalidArgumentError(`Expected \`spoolDir\` to be a folder path, got ${describeValue(options.spoolDir)}`);
  }
  return {
    spoolDir: options.spoolDir,
    reconnectGraceMs: positive('reconnectGraceMs', 30_000),
    keepAliveMs: positive('keepAliveMs', 15_000),
    maxQueuedMessages: positive('maxQueuedMessages', 256),
    maxQueuedBytes: positive('maxQueuedBytes', 8 * MiB),
    maxMessageBytes: positive('maxMessageBytes', 16 * MiB),
    maxFileBytes: positive('maxFileBytes', 16 * 1024 * MiB),
    maxSpoolBytes: positive('maxSpoolBytes', 32 * 1024 * MiB),
    capableGraceMs: positive('capableGraceMs', 2_000),
  };
}

/** What a legacy worker says about itself in the query string of every request. */
export interface LegacyQuery {
  id: string;
  token: string;
  /** `user@host/pid` (2.x) or `user@host#pid` (1.x). */
  origin: string;
  /** The last message id the worker saw (`oid`), empty at first. */
  oid: string;
  version: string;
  tags: string[];
  envs: string[];
}

/** Splits `a,b` lists (1.x sends its arrays through URLSearchParams, which joins them with commas). */
function list(value: string | null): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** Reads the legacy query string; missing fields are empty. */
export function parseLegacyQuery(params: URLSearchParams): LegacyQuery {
  return {
    id: params.get('id') ?? '',
    token: params.get('token') ?? '',
    origin: params.get('origin') ?? '',
    oid: params.get('oid') ?? '',
    version: params.get('version') ?? '',
    tags: [...new Set(list(params.get('tags')))],
    envs: [...new Set(list(params.get('envs')))],
  };
}

/** The legacy client generation: 2.x (Go) can cancel a running exec, 1.x (TypeScript) cannot. */
export function legacyGeneration(version: string): 1 | 2 {
  const major = Number.parseInt(version, 10);
  return Number.isFinite(major) && major >= 2 ? 2 : 1;
}

/** Agent facts for management views, from the `origin` and `version` fields; `platform` marks it legacy. */
export function legacyAgent(query: LegacyQuery): AgentInfo {
  const match = /^([^@]*)@([^/#]*)(?:[/#](\d+))?$/.exec(query.origin);
  const clip = (text: string, max: number) => text.slice(0, max);
  return {
    version: clip(query.version || 'unknown', 100),
    pid: match?.[3] ? Number(match[3]) : 0,
    user: clip(match?.[1] ?? '', 200),
    host: clip(match?.[2] ?? '', 300),
    platform: `legacy-pubsub ${legacyGeneration(query.version)}.x`,
  };
}

/** The default spool folder's parent. */
export function defaultSpoolParent(): string {
  return os.tmpdir();
}
