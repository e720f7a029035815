/**
 * One BullMQ worker process of the peers comparison (bench/peers/bullmq.ts): a `Worker` at concurrency 1
 * whose processor returns the job's data (echo), as `cla-worker run --task-handler echo
 * --task-concurrency 1` does. It counts every processor call per job id and sends the counts to the
 * parent on `report`; it says `ready` after its first job (the warm-up waits for every worker).
 * Usage (by bullmq.ts): node --import tsx bench/peers/bullmq-worker.ts PORT QUEUE NAME
 */
import { Worker } from 'bullmq';
import { exitOnSigterm, onParent, tell } from './common.ts';

const [port, queue, name] = process.argv.slice(2);
if (port === undefined || queue === undefined || name === undefined) throw new Error('usage: bullmq-worker.ts PORT QUEUE NAME');

const processed: Record<string, number> = {};
let first = true;
const worker = new Worker(
  queue,
  async (job) => {
    processed[job.id!] = (processed[job.id!] ?? 0) + 1;
    if (first) {
      first = false;
      tell({ type: 'ready', id: name });
    }
    return job.data as unknown;
  },
  { connection: { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null }, concurrency: 1, name },
);
worker.on('error', (error) => tell({ type: 'error', message: error.message }));
onParent((message) => {
  if (message.type === 'report') tell({ type: 'processed', id: name, ids: processed });
});
exitOnSigterm(() => worker.close());
