/**
 * Cron once per slot across hubs (issue 10): every hub schedules the same cron triggers, and before
 * firing one it creates the slot's key in the `cla_cron` KV bucket; `create` succeeds for exactly one
 * hub, which fires. Keys expire with the bucket's max age (2.9 has no per-key TTL), so the bucket stays
 * small.
 */
import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { openRetryingKv } from './jetstream-buckets.ts';
import type { NatsEngine } from './nats-connect.ts';
import { isWrongLastSequence } from './presence.ts';

/** How long a fired slot is remembered, in ms: far longer than any clock skew between hubs. */
export const CRON_SLOT_MAX_AGE_MS = 24 * 3600 * 1000;

/** Claims cron slots for one hub. */
export class CronSlots {
  private kv: Promise<KV> | undefined;

  constructor(
    private readonly engine: NatsEngine,
    private readonly hubId: string,
    private readonly bucket = 'cla_cron',
  ) {}

  /** True when this hub is the one to fire `slot` (an opaque text naming workflow, expression and time). */
  async claim(slot: string): Promise<boolean> {
    this.kv ??= openRetryingKv(this.engine.nc, this.bucket, { history: 1, ttl: CRON_SLOT_MAX_AGE_MS, replicas: this.engine.replicas });
    const kv = await this.kv;
    const key = createHash('sha256').update(slot).digest('hex');
    try {
      await kv.create(key, new TextEncoder().encode(this.hubId));
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }
}
