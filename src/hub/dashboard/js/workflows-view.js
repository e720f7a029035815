// "Workflow runs and tasks" (#/workflows): the hub's `workflows.list` and `tasks.list` methods
// (POST /api/call/<method>, the same method table the CLI uses), newest first, refreshed on every
// update (the app calls update() on the live event stream and when the route is shown).
import { api, errorText } from './api.js';
import { h, replace } from './dom.js';

const LIMIT = 100;

function time(ms) {
  return ms === null || ms === undefined ? '-' : new Date(ms).toLocaleString();
}

function attrs(value) {
  return Object.entries(value ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

const SOURCES = [
  {
    method: 'workflows.list',
    title: 'Workflow runs',
    testid: 'workflows',
    columns: ['Run', 'Workflow', 'State', 'Trigger', 'Started', 'Finished'],
    row: (r) => [r.id, r.workflow, r.state + (r.reason ? ` (${r.reason})` : ''), r.trigger, time(r.startedAt ?? r.createdAt), time(r.finishedAt)],
  },
  {
    method: 'tasks.list',
    title: 'Tasks',
    testid: 'tasks',
    columns: ['Task', 'Name', 'State', 'Attempts', 'Worker', 'Created', 'Attributes', 'Error'],
    row: (t) => [t.id, t.name, t.state, String(t.attempts), t.worker ?? '-', time(t.createdAt), attrs(t.attrs), t.error ? `${t.error.code}: ${t.error.message}` : ''],
  },
];

function table(source, rows) {
  if (rows.length === 0) return h('p', { class: 'empty', 'data-testid': `${source.testid}-empty` }, 'None yet.');
  return h('table', { class: 'generic', 'data-testid': `${source.testid}-table` },
    h('thead', null, h('tr', null, source.columns.map((name) => h('th', null, name)))),
    h('tbody', null, rows.map((row) => h('tr', { 'data-id': row.id }, source.row(row).map((value) => h('td', null, value))))),
  );
}

/** Shows the section in `root`; returns `{ update(), dispose() }`. */
export function showWorkflows(root) {
  let disposed = false;
  const parts = SOURCES.map((source) => ({ source, node: h('section', { 'data-testid': source.testid }, h('h3', null, source.title), h('p', { class: 'muted' }, 'Loading…')) }));
  replace(root, h('h2', null, 'Workflow runs and tasks'), parts.map((part) => part.node));
  async function update() {
    await Promise.all(parts.map(async ({ source, node }) => {
      let body;
      try {
        body = table(source, await api('POST', `/api/call/${source.method}`, { limit: LIMIT }));
      } catch (error) {
        body = h('p', { class: 'error', 'data-testid': `${source.testid}-error` }, errorText(error));
      }
      if (!disposed) replace(node, h('h3', null, source.title), body);
    }));
  }
  void update();
  return { update, dispose: () => (disposed = true) };
}
