// The workers table: one row per worker, rebuilt from every `workers` event of /api/events.
import { h, list, replace, stateBadge, when } from './dom.js';

const COLUMNS = ['ID', 'State', 'Projects', 'Shared with', 'Tags', 'Envs', 'Origin', 'Connected since / last seen', 'Jobs run', 'Running', 'Failures'];

function seen(worker, now) {
  if (worker.connected) return h('span', { title: 'connected since' }, `since ${when(worker.connectedSince, now)}`);
  return h('span', { title: 'last seen' }, worker.lastSeen === null ? 'never connected' : `last seen ${when(worker.lastSeen, now)}`);
}

function row(worker, now, fleet) {
  return h('tr', { 'data-worker-id': worker.id, class: [!worker.connected && 'offline', worker.disabled && 'disabled'] },
    h('td', null, h('a', { href: `#/workers/${encodeURIComponent(worker.id)}` }, worker.id)),
    h('td', null, stateBadge(worker)),
    fleet ? h('td', { 'data-testid': 'hub' }, worker.hub ?? '—') : null,
    h('td', null, list(worker.projects)),
    h('td', { class: worker.sharedWith.length > 0 ? 'shared' : null }, list(worker.sharedWith)),
    h('td', null, list(worker.tags)),
    h('td', null, list(worker.envs)),
    h('td', null, worker.origin ?? '—', worker.pid !== null ? h('span', { class: 'muted' }, ` pid ${worker.pid}`) : null,
      worker.platform?.startsWith('legacy-pubsub') ? h('span', { class: 'muted', 'data-testid': 'legacy', title: 'a Clarive worker on the legacy pubsub (cla-hub start --legacy-pubsub)' }, ` ${worker.platform.replace('-pubsub', '')}`) : null),
    h('td', null, seen(worker, now)),
    h('td', { class: 'num' }, String(worker.jobsRun)),
    h('td', { class: 'num' }, String(worker.runningJobs)),
    h('td', { class: ['num', worker.failures > 0 && 'bad'] }, String(worker.failures)),
  );
}

/** Renders the workers section into `root` (`workers` is `null` until the first event arrives). */
export function renderWorkers(root, workers) {
  const now = Date.now();
  // Several hubs on one engine: which one holds each worker.
  const fleet = workers?.some((worker) => worker.hub) ?? false;
  const columns = fleet ? [...COLUMNS.slice(0, 2), 'Hub', ...COLUMNS.slice(2)] : COLUMNS;
  const body = workers === null
    ? h('p', { class: 'muted' }, 'Waiting for the hub…')
    : workers.length === 0
      ? h('p', { class: 'empty', 'data-testid': 'no-workers' }, 'No workers registered yet. Register one with a project passkey (see Projects), then start it with `cla-worker run`.')
      : h('table', { class: 'workers', 'data-testid': 'workers-table' },
          h('thead', null, h('tr', null, columns.map((name) => h('th', { scope: 'col' }, name)))),
          h('tbody', null, workers.map((worker) => row(worker, now, fleet))),
        );
  const connected = workers?.filter((worker) => worker.connected).length ?? 0;
  replace(root,
    h('h2', null, 'Workers'),
    workers === null ? null : h('p', { class: 'summary' }, `${workers.length} registered, ${connected} connected. Click an id for its state machine, jobs and actions.`),
    body,
  );
}
