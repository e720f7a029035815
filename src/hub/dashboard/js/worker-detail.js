// One worker (#/workers/ID): its facts, the management actions with their confirmations (the seed's
// "Deploy -> Workers" operations and shared-worker caveats), its state machine with the current state
// highlighted, and its recent jobs with their output. Kept live by the `workers` events.
import { api, errorText } from './api.js';
import { confirmAction, notify } from './dialog.js';
import { commandText, h, list, replace, stateBadge, when } from './dom.js';
import { drawMachine, highlightState } from './machine-svg.js';

/** The seed's warning (src/hub/management.ts SHUTDOWN_WARNING), shown before a shutdown. */
export const SHUTDOWN_WARNING =
  'Shutting down workers will kill the server process. After a shut down, restarting the worker requires manually logging into the server and starting the process.';

const sharedNote = (worker, doing) =>
  worker.projects.length > 1 ? `Worker ${worker.id} is shared by projects ${worker.projects.join(', ')}: ${doing} makes it unavailable to all of them.` : null;

/** What changes in the list entry that makes the detail (jobs, counters) worth fetching again. */
const signature = (w) => JSON.stringify([w.state, w.session, w.connected, w.disabled, w.jobsRun, w.runningJobs, w.failures, w.projects, w.lastSeen]);

function facts(worker) {
  const now = Date.now();
  const rows = [
    ['Projects', list(worker.projects)],
    ['Shared with', list(worker.sharedWith)],
    ['Tags', list(worker.tags)],
    ['Envs', list(worker.envs)],
    ['Origin', worker.origin ?? '—'],
    ['Pid', worker.pid ?? '—'],
    ['Platform / version', `${worker.platform ?? '—'} / ${worker.version ?? '—'}`],
    ['Connected since', worker.connected ? when(worker.connectedSince, now) : 'not connected'],
    ['Last seen', when(worker.lastSeen, now)],
    ['Registered', when(worker.createdAt, now)],
    ['Hub session', worker.session ?? '—'],
    ['Jobs run / running / failures', `${worker.jobsRun} / ${worker.runningJobs} / ${worker.failures}`],
  ];
  return h('dl', { class: 'facts' }, rows.map(([name, value]) => [h('dt', null, name), h('dd', null, String(value))]));
}

function jobView(job) {
  const status = job.finishedAt === null ? 'running' : job.outcome ?? 'unknown';
  const duration = job.finishedAt === null ? null : `${((job.finishedAt - job.startedAt) / 1000).toFixed(2)} s`;
  const exit = [job.exitCode !== null ? `exit ${job.exitCode}` : null, job.signal, job.errorCode].filter(Boolean).join(' · ');
  return h('article', { class: 'job', 'data-job-id': job.id, 'data-outcome': status },
    h('header', null,
      h('span', { class: ['badge', `outcome-${status}`] }, status),
      h('code', { class: 'job-command' }, `${job.kind} ${commandText(job.command)}`),
      h('span', { class: 'muted' }, ` ${when(job.startedAt)}`, duration ? ` · ${duration}` : null, exit ? ` · ${exit}` : null, ` · ${job.outputBytes} bytes · ${job.id}`),
    ),
    job.output ? h('pre', { class: 'output' }, job.output) : h('p', { class: 'muted' }, 'No output.'),
  );
}

/** Shows worker `id` in `root`; returns `{ update(workers), dispose() }` for the live list. */
export function showWorkerDetail(root, id, { machine }) {
  const header = h('div', { class: 'detail-header' });
  const notes = h('div');
  const actions = h('div', { class: 'actions', 'data-testid': 'actions' });
  const stateText = h('p', { class: 'current-state', 'data-testid': 'current-state' });
  const drawing = h('div', { class: 'machine-box' }, h('p', { class: 'muted' }, 'Loading the state machine…'));
  const table = h('div');
  const jobs = h('div', { class: 'jobs', 'data-testid': 'jobs' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(root,
    h('p', null, h('a', { href: '#/workers' }, '← all workers')),
    header, notes,
    h('section', null, h('h3', null, 'Actions'), actions),
    h('section', null, h('h3', null, 'State machine'), stateText, drawing, table),
    h('section', null, h('h3', null, 'Recent jobs'), jobs),
  );

  let worker = null;
  let svg = null;
  let disposed = false;
  let busy = false;
  let loading = null;
  let again = false;
  let seenSignature = null;

  const showState = () => {
    if (!worker) return;
    replace(stateText, 'Current state: ', stateBadge(worker), worker.state === 'offline' ? ' — the worker is not connected, so no state is highlighted.' : null);
    if (svg) highlightState(svg, worker.state);
  };

  const act = async (name, path, body, confirmation) => {
    if (!(await confirmAction(confirmation))) return;
    busy = true;
    renderActions();
    try {
      const answer = await api('POST', path, body);
      if (name === 'unregister') {
        notify('info', answer.deleted ? `Worker ${id} unregistered from ${answer.removed}; it had no other project, so it was removed and disconnected.` : `Worker ${id} unregistered from ${answer.removed}; still in: ${answer.projects.join(', ')}.`);
        if (answer.deleted) location.hash = '#/workers';
      } else notify(answer.warnings.length > 0 ? 'warn' : 'info', `Worker ${id}: ${name} done.`, ...answer.warnings);
    } catch (error) {
      notify('error', `Could not ${name} worker ${id}: ${errorText(error)}`);
    } finally {
      busy = false;
      void refresh();
    }
  };

  function renderActions() {
    if (!worker) return;
    const w = worker;
    const base = `/api/workers/${encodeURIComponent(id)}`;
    const button = (label, testid, enabled, onclick, danger = false) =>
      h('button', { type: 'button', 'data-testid': testid, class: danger ? 'danger' : null, disabled: busy || !enabled, onclick }, label);
    replace(actions,
      button('Disable', 'disable', !w.disabled, () => act('disable', `${base}/disable`, {}, {
        title: `Disable worker ${id}?`,
        lines: ['No new jobs reach it; the process keeps running and jobs already running finish. It stays disabled when it reconnects, until enabled.', sharedNote(w, 'disabling it')].filter(Boolean),
        confirmLabel: 'Disable',
      })),
      button('Enable', 'enable', w.disabled, () => act('enable', `${base}/enable`, {}, {
        title: `Enable worker ${id}?`,
        lines: ['It takes new jobs again.', w.projects.length > 1 ? `It becomes available again to every project that shares it: ${w.projects.join(', ')}.` : null].filter(Boolean),
        confirmLabel: 'Enable',
      })),
      button('Shut down', 'shutdown', w.connected, () => act('shutdown', `${base}/shutdown`, {}, {
        title: `Shut down worker ${id}?`,
        lines: ['The worker process finishes its running jobs, exits and does not reconnect.', sharedNote(w, 'shutting it down')].filter(Boolean),
        warning: SHUTDOWN_WARNING,
        confirmLabel: 'Shut down',
        danger: true,
      }), true),
      w.projects.map((project) => {
        const others = w.projects.filter((p) => p !== project);
        return button(`Unregister from ${project}`, `unregister-${project}`, true, () => act('unregister', `${base}/unregister`, { project }, {
          title: `Unregister worker ${id} from project ${project}?`,
          lines: [
            `Removes worker ${id} from project ${project} only.`,
            others.length > 0 ? `It stays registered in ${others.join(', ')}: unregistering from one project does not unregister it from the others.` : `${project} is its only project: the worker is removed from the hub and disconnected, and must register again with a passkey.`,
          ],
          confirmLabel: 'Unregister',
          danger: true,
        }), true);
      }),
      w.connected ? null : h('p', { class: 'muted' }, 'Shut down needs a connected worker.'),
    );
  }

  async function refresh() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        const detail = await api('GET', `/api/workers/${encodeURIComponent(id)}`);
        if (disposed) return;
        worker = detail;
        seenSignature = signature(detail);
        replace(header, h('h2', null, `Worker ${detail.id} `, stateBadge(detail)), facts(detail));
        replace(notes, detail.projects.length > 1 ? h('p', { class: 'warning shared-note' }, `Shared by projects ${detail.projects.join(', ')}: disabling or shutting it down affects all of them; unregistering removes it from one project only.`) : null);
        renderActions();
        showState();
        replace(jobs, detail.recentJobs.length === 0 ? h('p', { class: 'muted' }, 'No jobs yet.') : detail.recentJobs.map(jobView));
      } catch (error) {
        if (!disposed) replace(header, h('h2', null, `Worker ${id}`), h('p', { class: 'error' }, errorText(error)));
      }
    })();
    await loading;
    loading = null;
    if (again && !disposed) {
      again = false;
      await refresh();
    }
  }

  machine()
    .then((model) => {
      if (disposed) return;
      svg = drawMachine(model, worker?.state ?? null);
      replace(drawing, svg);
      const stays = model.global.filter((t) => t.to !== null).map((t) => `${t.event} → ${t.to}`);
      replace(table,
        stays.length > 0 ? h('p', { class: 'muted' }, `From any state that does not handle it itself: ${stays.join('; ')}.`) : null,
        h('details', null, h('summary', null, 'All transitions'),
          h('table', { class: 'transitions' },
            h('thead', null, h('tr', null, ['From', 'Event', 'Guard', 'To'].map((name) => h('th', null, name)))),
            h('tbody', null, model.transitions.map((t) => h('tr', null, h('td', null, t.from), h('td', null, t.event), h('td', null, t.guard ?? ''), h('td', null, t.to ?? '(stays)')))),
          ),
        ),
      );
      showState();
    })
    .catch((error) => replace(drawing, h('p', { class: 'error' }, `Cannot draw the state machine: ${errorText(error)}`)));
  void refresh();

  return {
    update(workers) {
      const entry = workers.find((w) => w.id === id);
      if (!entry) {
        replace(stateText, h('span', { class: 'error' }, `Worker ${id} is no longer registered.`));
        return;
      }
      if (worker) {
        worker = { ...worker, ...entry };
        showState();
      }
      if (signature(entry) !== seenSignature) void refresh();
    },
    dispose() {
      disposed = true;
    },
  };
}
