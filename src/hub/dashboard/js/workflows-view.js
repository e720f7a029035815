// "Workflow runs and tasks" (#/workflows): lists them when the hub has the endpoints `/api/workflows`
// and `/api/tasks` (added by another part of the project), and says so when it has not (404
// `UNSUPPORTED`). Their shape is not fixed here, so each list is shown as a generic table of its
// plain fields.
import { api, errorText } from './api.js';
import { h, replace } from './dom.js';

const SOURCES = [
  { path: '/api/workflows', title: 'Workflow runs', testid: 'workflows' },
  { path: '/api/tasks', title: 'Tasks', testid: 'tasks' },
];
const MAX_COLUMNS = 8;
const MAX_ROWS = 100;

/** The array inside an answer: the answer itself, or its first array-valued field (`{runs: [...]}`). */
function rowsOf(answer) {
  if (Array.isArray(answer)) return answer;
  if (answer && typeof answer === 'object') return Object.values(answer).find(Array.isArray) ?? [answer];
  return [];
}

function cell(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && value > 1e12 && value < 1e13) return new Date(value).toLocaleString();
  if (typeof value === 'object') {
    const text = JSON.stringify(value);
    return text.length > 120 ? `${text.slice(0, 120)}…` : text;
  }
  return String(value);
}

function table(rows, testid) {
  if (rows.length === 0) return h('p', { class: 'empty' }, 'None yet.');
  const columns = [...new Set(rows.slice(0, 20).flatMap((row) => (row && typeof row === 'object' ? Object.keys(row) : ['value'])))].slice(0, MAX_COLUMNS);
  return h('table', { class: 'generic', 'data-testid': `${testid}-table` },
    h('thead', null, h('tr', null, columns.map((name) => h('th', null, name)))),
    h('tbody', null, rows.slice(0, MAX_ROWS).map((row) => h('tr', null, columns.map((name) => h('td', null, cell(row && typeof row === 'object' ? row[name] : row)))))),
  );
}

/** Shows the section in `root`; returns `{ update(), dispose() }`. */
export function showWorkflows(root) {
  let disposed = false;
  const parts = SOURCES.map((source) => ({ ...source, node: h('section', { 'data-testid': source.testid }, h('h3', null, source.title), h('p', { class: 'muted' }, 'Loading…')) }));
  replace(root, h('h2', null, 'Workflow runs and tasks'), parts.map((part) => part.node));
  async function update() {
    await Promise.all(parts.map(async (part) => {
      let body;
      try {
        body = table(rowsOf(await api('GET', part.path)), part.testid);
      } catch (error) {
        body = error.status === 404 || error.status === 405
          ? h('p', { class: 'unavailable', 'data-testid': `${part.testid}-unavailable` }, `Not available: this hub has no ${part.path} endpoint yet.`)
          : h('p', { class: 'error' }, errorText(error));
      }
      if (!disposed) replace(part.node, h('h3', null, part.title), body);
    }));
  }
  void update();
  return { update, dispose: () => (disposed = true) };
}
