// DOM helpers. Every piece of data reaches the page as a text node or an attribute value set through
// the DOM API, never through innerHTML, so worker ids, job output and error messages cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Appends children (strings become text nodes; null/undefined/false are skipped). */
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Sets attributes; `on*` functions become listeners, `class` may be an array, false/null skip. */
function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  return node;
}

/** `h('td', { class: 'num' }, 'text', otherNode)` */
export function h(tag, attrs, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return append(setAttributes(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replaces the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** `12:04:05 (3 min ago)`-style text for a time in ms since the epoch; '—' for none. */
export function when(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '—';
  return `${new Date(ms).toLocaleString()} (${ago(now - ms)})`;
}

/** `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`. */
export function ago(deltaMs) {
  const sec = Math.max(0, Math.round(deltaMs / 1000));
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

/** A list as `a, b` or '—'. */
export function list(values) {
  return Array.isArray(values) && values.length > 0 ? values.join(', ') : '—';
}

/** A job's command as one line of text. */
export function commandText(command) {
  if (typeof command === 'string') return command;
  if (Array.isArray(command)) return command.join(' ');
  if (command === null || command === undefined) return '';
  return JSON.stringify(command);
}

/** A state badge: `<span class="badge state-connected">connected.idle</span>`. */
export function stateBadge(worker) {
  const state = worker.state;
  const top = state.split('.')[0];
  const label = worker.disabled && state !== 'disabled' ? `${state} (disabled)` : state;
  return h('span', { class: ['badge', `state-${top}`, worker.disabled && 'is-disabled'], 'data-testid': 'state' }, label);
}
