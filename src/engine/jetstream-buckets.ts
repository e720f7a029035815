/**
 * What the JetStream stores (tasks, workflows, resources; issue 10) share: where their KV buckets live and
 * how a compare-and-set that lost is told apart.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { InvalidArgumentError } from '../errors.ts';

/** Where a JetStream store keeps its buckets. */
export interface JetStreamBucketOptions {
  /** Bucket name prefix, `[A-Za-z0-9_-]`; every hub sharing the state uses the same one. @default 'cla' */
  prefix?: string;
  /** Replicas of the buckets' streams when the store creates them: 3 on a 3-node cluster. @default 1 */
  replicas?: number;
}

/** {@link JetStreamBucketOptions} checked and filled, and the connection as a function. */
export function parseBucketOptions(
  nc: NatsConnection | (() => Promise<NatsConnection>),
  options: JetStreamBucketOptions,
): { prefix: string; replicas: number; connection: () => Promise<NatsConnection> } {
  const prefix = options.prefix ?? 'cla';
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new InvalidArgumentError(`Expected \`prefix\` to be letters, digits, _ or -, got \`${prefix}\``);
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new InvalidArgumentError(`Expected \`replicas\` to be an integer 1-5, got \`${replicas}\``);
  return { prefix, replicas, connection: typeof nc === 'function' ? nc : () => Promise.resolve(nc) };
}

/** Whether a KV write was refused because the key moved on (update) or already holds a value (create). */
export const isWrongRevision = (error: unknown): boolean =>
  error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
