/**
 * The one way the hub connects to a NATS JetStream engine (issue 10): `cla-hub start --engine
 * nats://HOST:PORT[,nats://HOST2:PORT]` (also `CLA_HUB_ENGINE`). Several comma-separated URLs name the
 * servers of one cluster; the client picks one and fails over to the others.
 *
 * `noAsyncTraces: true`: the client otherwise builds a stack-trace error for every request, which cost
 * half its CPU on these machines (../../shared/STYLE.md).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { InvalidArgumentError } from '../errors.ts';

/** An open engine connection with its JetStream handles. */
export interface NatsEngine {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The servers it was given, as given. */
  servers: string[];
  /**
   * Replicas of the streams behind the buckets the hub creates (`--engine-replicas`): 3 on a 3-node
   * cluster, so an acknowledged write is on a majority and a bucket outlives its stream leader. A bucket
   * that already exists keeps its own (`nats stream edit KV_cla_tasks --replicas 3` changes it). @default 1
   */
  replicas: number;
  /** Drains and closes the connection; calling it again does nothing. */
  close(): Promise<void>;
}

/** Splits `nats://a:4222,nats://b:4222` into its URLs; refuses anything that is not nats:// or tls://. */
export function parseEngineUrls(value: string): string[] {
  const urls = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (urls.length === 0) throw new InvalidArgumentError(`--engine: expected nats://HOST:PORT (several separated by commas), got ${JSON.stringify(value)}`);
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidArgumentError(`--engine: ${JSON.stringify(url)} is not a URL; expected nats://HOST:PORT`);
    }
    if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:') {
      throw new InvalidArgumentError(`--engine: ${JSON.stringify(url)} must start with nats:// or tls://`);
    }
    if (!parsed.port) throw new InvalidArgumentError(`--engine: ${JSON.stringify(url)} has no port; expected nats://HOST:PORT (4222 is NATS's default)`);
  }
  return urls;
}

/** Checks `--engine-replicas` (a number, or its text): 1-5, as nats-server allows. */
export function parseEngineReplicas(value: number | string): number {
  const n = typeof value === 'number' ? value : Number(value.trim() === '' ? NaN : value);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new InvalidArgumentError(`--engine-replicas: expected an integer 1-5 (3 on a 3-node cluster), got ${JSON.stringify(String(value))}`);
  return n;
}

/** Connects to the engine and opens its JetStream client and manager. */
export async function connectEngine(servers: string[], options: { name?: string; replicas?: number } = {}): Promise<NatsEngine> {
  const replicas = parseEngineReplicas(options.replicas ?? 1);
  const nc = await connect({ servers, name: options.name ?? 'cla-hub', noAsyncTraces: true, maxReconnectAttempts: -1 });
  const js = jetstream(nc);
  // A server without JetStream refuses the manager: close the connection, or it keeps the process alive.
  const jsm = await jetstreamManager(nc).catch(async (error: unknown) => {
    await nc.close();
    throw error;
  });
  let closing: Promise<void> | undefined;
  return {
    nc,
    js,
    jsm,
    servers,
    replicas,
    close: () => {
      closing ??= nc.drain().catch(() => nc.close());
      return closing;
    },
  };
}
