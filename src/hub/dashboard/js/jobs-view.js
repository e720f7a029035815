// Recent jobs of every worker (#/jobs), newest first; output is on each worker's page.
import { api, errorText } from './api.js';
import { commandText, h, replace, when } from './dom.js';

/** Shows the recent jobs in `root`; returns `{ update(), dispose() }`. */
export function showJobs(root) {
  let disposed = false;
  let inFlight = false;
  const render = (jobs, error) => {
    if (disposed) return;
    replace(root,
      h('h2', null, 'Recent jobs'),
      error ? h('p', { class: 'error' }, error) : null,
      jobs === null ? h('p', { class: 'muted' }, 'Loading…') : jobs.length === 0 ? h('p', { class: 'empty' }, 'No jobs yet.') : h('table', { class: 'jobs-table', 'data-testid': 'jobs-table' },
        h('thead', null, h('tr', null, ['Started', 'Worker', 'Kind', 'Command', 'Outcome', 'Exit', 'Duration', 'Output bytes'].map((name) => h('th', null, name)))),
        h('tbody', null, jobs.map((job) => h('tr', { 'data-job-id': job.id },
          h('td', null, when(job.startedAt)),
          h('td', null, h('a', { href: `#/workers/${encodeURIComponent(job.workerId)}` }, job.workerId)),
          h('td', null, job.kind),
          h('td', null, h('code', null, commandText(job.command))),
          h('td', null, h('span', { class: ['badge', `outcome-${job.finishedAt === null ? 'running' : job.outcome}`] }, job.finishedAt === null ? 'running' : job.outcome ?? '—')),
          h('td', null, [job.exitCode, job.signal, job.errorCode].filter((v) => v !== null).join(' ') || '—'),
          h('td', { class: 'num' }, job.finishedAt === null ? '—' : `${((job.finishedAt - job.startedAt) / 1000).toFixed(2)} s`),
          h('td', { class: 'num' }, String(job.outputBytes)),
        ))),
      ),
    );
  };
  async function update() {
    if (inFlight) return;
    inFlight = true;
    try {
      render(await api('GET', '/api/jobs?limit=50'), null);
    } catch (error) {
      render([], errorText(error));
    } finally {
      inFlight = false;
    }
  }
  render(null, null);
  void update();
  return { update, dispose: () => (disposed = true) };
}
