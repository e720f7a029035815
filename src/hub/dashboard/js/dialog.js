// Confirmation dialogs on the page's one <dialog id="confirm">, filled with text nodes.
import { h, replace } from './dom.js';

/**
 * Asks for confirmation; resolves true when the operator clicks the confirm button.
 * @param {{ title: string, lines?: string[], warning?: string, confirmLabel: string, danger?: boolean }} options
 */
export function confirmAction({ title, lines = [], warning, confirmLabel, danger = false }) {
  const dialog = document.getElementById('confirm');
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: ['confirm-ok', danger && 'danger'], 'data-testid': 'confirm-ok' }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'confirm-cancel', 'data-testid': 'confirm-cancel' }, 'Cancel');
    replace(
      dialog,
      h('h2', null, title),
      lines.map((line) => h('p', null, line)),
      warning ? h('p', { class: 'warning', role: 'alert' }, warning) : null,
      h('div', { class: 'dialog-buttons' }, cancel, ok),
    );
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    ok.addEventListener('click', () => finish(true));
    cancel.addEventListener('click', () => finish(false));
    // Escape closes the dialog: that is a "no".
    dialog.addEventListener('close', () => finish(false), { once: true });
    dialog.showModal();
    cancel.focus();
  });
}

/** Shows a message in the notice bar (`kind`: info, warn, error); it stays until replaced or dismissed. */
export function notify(kind, ...lines) {
  const bar = document.getElementById('notice');
  const close = h('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss', onclick: () => replace(bar) }, '×');
  replace(bar, h('div', { class: ['notice', `notice-${kind}`], role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'notice' }, lines.map((line) => h('p', null, line)), close));
}
