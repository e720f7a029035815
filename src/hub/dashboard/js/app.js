// The dashboard's entry point: log in, hash routing, and the live worker list.
//
// Live updates: one EventSource on /api/events (same origin, so the session cookie goes along). The hub
// sends `event: workers` with the whole list at once and after every change (connect, disconnect,
// state, job start/end, management), at most 5 a second; the page re-renders from that list, and the
// open view fetches what else it shows (a worker's jobs, the projects) when it changes.
import { api, errorText } from './api.js';
import { notify } from './dialog.js';
import { replace } from './dom.js';
import { showJobs } from './jobs-view.js';
import { machineModel } from './machine-model.js';
import { showProjects } from './projects-view.js';
import { showWorkerDetail } from './worker-detail.js';
import { renderWorkers } from './workers-view.js';
import { showWorkflows } from './workflows-view.js';

/** Views other than the workers table fetch again at most this often on `workers` events, in ms. */
const REFETCH_GAP_MS = 2000;

const $ = (id) => document.getElementById(id);
let workers = null;
let view = null;
let events = null;
let machinePromise = null;

/** The worker machine's model, fetched once. */
const machine = () => (machinePromise ??= api('GET', '/api/machines/worker').then(machineModel).catch((error) => {
  machinePromise = null;
  throw error;
}));

function setLive(text, ok) {
  const live = $('live');
  live.hidden = false;
  live.textContent = text;
  live.classList.toggle('ok', ok);
}

/** Wraps a view's `update` so it runs at most once per {@link REFETCH_GAP_MS}, with a trailing call. */
function throttled(update) {
  let last = 0;
  let timer = null;
  return () => {
    const wait = last + REFETCH_GAP_MS - Date.now();
    if (wait <= 0) {
      last = Date.now();
      void update();
    } else timer ??= setTimeout(() => {
      timer = null;
      last = Date.now();
      void update();
    }, wait);
  };
}

function route() {
  const root = $('app');
  view?.dispose?.();
  view = null;
  const hash = location.hash.replace(/^#\/?/, '');
  const [name = 'workers', ...rest] = hash.split('/');
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.route === (name || 'workers')) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if ((name === 'workers' || name === '') && rest.length > 0) {
    const detail = showWorkerDetail(root, decodeURIComponent(rest.join('/')), { machine });
    view = { workers: (list) => detail.update(list), dispose: detail.dispose };
  } else if (name === 'projects' || name === 'jobs' || name === 'workflows') {
    const shown = { projects: showProjects, jobs: showJobs, workflows: showWorkflows }[name](root);
    view = { workers: throttled(shown.update), dispose: shown.dispose };
  } else {
    renderWorkers(root, workers);
    view = { workers: () => renderWorkers(root, workers) };
  }
}

function connectEvents() {
  events?.close();
  events = new EventSource('/api/events');
  setLive('connecting…', false);
  events.addEventListener('open', () => setLive('live', true));
  events.addEventListener('workers', (event) => {
    workers = JSON.parse(event.data);
    setLive('live', true);
    view?.workers?.(workers);
  });
  events.addEventListener('error', (event) => {
    // `event: error` sent by the hub (it could not list the workers) carries data; a lost stream does not.
    if (event.data) {
      notify('warn', `The hub could not send the worker list: ${JSON.parse(event.data).message}`);
      return;
    }
    setLive('reconnecting…', false);
    // The browser retries on its own unless the answer was not a stream (e.g. 401 after a hub restart).
    if (events.readyState === EventSource.CLOSED) setTimeout(checkSession, 3000);
  });
}

async function checkSession() {
  try {
    await api('GET', '/api/session');
    connectEvents();
  } catch (error) {
    if (error.status === 401) showLogin('Your session ended (expired, logged out, or the hub restarted): log in again.');
    else setTimeout(checkSession, 3000);
  }
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('nav').hidden = false;
  $('logout').hidden = false;
  connectEvents();
  route();
}

function showLogin(message = '') {
  events?.close();
  events = null;
  view?.dispose?.();
  view = null;
  workers = null;
  $('app').hidden = true;
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('token').focus();
}

async function logIn(event) {
  event.preventDefault();
  const input = $('token');
  try {
    await api('POST', '/api/login', { token: input.value.trim() });
    input.value = '';
    $('login-error').textContent = '';
    showApp();
  } catch (error) {
    $('login-error').textContent = error.status === 401 ? 'That is not the admin token.' : errorText(error);
  }
}

async function logOut() {
  try {
    await api('POST', '/api/logout', {});
  } finally {
    replace($('notice'));
    showLogin('Logged out.');
  }
}

async function start() {
  $('login-form').addEventListener('submit', logIn);
  $('logout').addEventListener('click', logOut);
  window.addEventListener('hashchange', () => {
    if (!$('app').hidden) route();
  });
  // Relative times ("3 min ago") in the workers table.
  setInterval(() => {
    if (!$('app').hidden && view && workers && !location.hash.replace(/^#\/?/, '').includes('/')) view.workers?.(workers);
  }, 30_000);
  try {
    await api('GET', '/api/session');
    showApp();
  } catch (error) {
    showLogin(error.status === 401 ? '' : errorText(error));
  }
}

void start();
