// Projects and their passkeys (#/projects): the seed's "obtain the passkey for registering workers",
// with rotate and invalidate behind a confirmation. A passkey is fetched only when asked for.
import { api, errorText } from './api.js';
import { confirmAction, notify } from './dialog.js';
import { h, replace } from './dom.js';

/** Shows the projects in `root`; returns `{ update(), dispose() }`. */
export function showProjects(root) {
  const shown = new Map();
  let projects = null;
  let error = null;
  let disposed = false;

  const passkeyCell = (project) => {
    if (!shown.has(project.name)) return project.hasPasskey ? h('span', { class: 'muted' }, 'hidden') : h('span', { class: 'muted' }, 'none (invalidated)');
    const passkey = shown.get(project.name);
    if (passkey === null) return h('span', { class: 'muted' }, 'none (invalidated)');
    return h('div', null,
      h('code', { class: 'passkey', 'data-testid': `passkey-${project.name}` }, passkey),
      h('p', { class: 'muted' }, 'Register a worker with: ', h('code', null, `cla-worker register --passkey ${passkey}`), ' (add --url with the hub\'s websocket URL if it is not the default).'),
    );
  };

  const change = async (project, verb) => {
    const rotate = verb === 'rotate';
    const ok = await confirmAction({
      title: `${rotate ? 'Rotate' : 'Invalidate'} the passkey of ${project.name}?`,
      lines: rotate
        ? ['A new passkey replaces the old one, which stops working at once. Workers already registered keep working.']
        : ['The project gets no passkey: no new worker can register with it until the passkey is rotated. Workers already registered keep working.'],
      confirmLabel: rotate ? 'Rotate' : 'Invalidate',
      danger: !rotate,
    });
    if (!ok) return;
    try {
      const answer = await api('POST', `/api/projects/${encodeURIComponent(project.name)}/passkey/${verb}`, {});
      shown.set(project.name, answer.passkey);
      notify('info', rotate ? `New passkey for ${project.name}; the old one no longer works.` : `Passkey of ${project.name} invalidated.`);
    } catch (e) {
      notify('error', `Could not ${verb} the passkey of ${project.name}: ${errorText(e)}`);
    }
    await update();
  };

  const reveal = async (project) => {
    try {
      shown.set(project.name, (await api('GET', `/api/projects/${encodeURIComponent(project.name)}/passkey`)).passkey);
    } catch (e) {
      notify('error', `Could not read the passkey of ${project.name}: ${errorText(e)}`);
    }
    render();
  };

  function render() {
    if (disposed) return;
    replace(root,
      h('h2', null, 'Projects and passkeys'),
      h('p', null, 'A worker registers into a project with its passkey. Rotating or invalidating a passkey does not affect workers already registered.'),
      error ? h('p', { class: 'error' }, error) : null,
      projects === null ? h('p', { class: 'muted' }, 'Loading…') : h('table', { class: 'projects', 'data-testid': 'projects-table' },
        h('thead', null, h('tr', null, ['Project', 'Workers', 'Connected', 'Passkey', ''].map((name) => h('th', null, name)))),
        h('tbody', null, projects.map((project) => h('tr', { 'data-project': project.name },
          h('td', null, project.name),
          h('td', { class: 'num' }, String(project.workers)),
          h('td', { class: 'num' }, String(project.connected)),
          h('td', null, passkeyCell(project)),
          h('td', { class: 'buttons' },
            h('button', { type: 'button', 'data-testid': `show-passkey-${project.name}`, disabled: !project.hasPasskey && !shown.has(project.name), onclick: () => (shown.has(project.name) ? (shown.delete(project.name), render()) : reveal(project)) }, shown.has(project.name) ? 'Hide' : 'Show passkey'),
            h('button', { type: 'button', 'data-testid': `rotate-${project.name}`, onclick: () => change(project, 'rotate') }, 'Rotate'),
            h('button', { type: 'button', class: 'danger', 'data-testid': `invalidate-${project.name}`, disabled: !project.hasPasskey, onclick: () => change(project, 'invalidate') }, 'Invalidate'),
          ),
        ))),
      ),
    );
  }

  async function update() {
    try {
      projects = await api('GET', '/api/projects');
      error = null;
    } catch (e) {
      error = errorText(e);
    }
    render();
  }

  render();
  void update();
  return { update, dispose: () => (disposed = true) };
}
