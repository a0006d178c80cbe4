// Shared widgets: modal dialogs (native <dialog>), an accessible menu button, notices, error explanations.

import { h, append, replace, uid } from './dom.js';
import { ukoAll } from './api.js';

let flash = null;
/** A message for the next view to show (e.g. "Key deleted" after leaving the deleted key's page). */
export function setFlash(message) { flash = message; }
/** Takes the pending flash message. */
export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}

/** Says `message` to screen readers through the polite live region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh node after a tick makes screen readers repeat identical messages too.
  setTimeout(() => { region.textContent = message; }, 50);
}

/**
 * A modal dialog. `content` is built by `build({close})` and returns the body nodes; `buttons` are
 * `{label, value, kind, autofocus}`. Resolves with the value of the button used (or null on Escape).
 * Focus moves into the dialog and returns to the element that had it.
 */
export function openDialog({ title, build, buttons, wide = false, onSubmit }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dialog-title');
    const dialog = h('dialog', { class: `dialog${wide ? ' dialog-wide' : ''}`, 'aria-labelledby': titleId });
    let result = null;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    const form = h('form', { method: 'dialog', class: 'dialog-form' });
    const footer = h('div', { class: 'dialog-buttons' });
    for (const button of buttons) {
      footer.append(h('button', {
        type: button.submit ? 'submit' : 'button',
        class: `button ${button.kind ? `button-${button.kind}` : 'button-secondary'}`,
        autofocus: button.autofocus || undefined,
        onclick: button.submit ? undefined : () => close(button.value),
      }, button.label));
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (onSubmit) {
        const value = await onSubmit(form);
        if (value !== undefined) close(value);
      } else {
        close(buttons.find((b) => b.submit)?.value ?? true);
      }
    });
    append(form, [h('h2', { id: titleId, class: 'dialog-title' }, title), h('div', { class: 'dialog-body' }, build({ close })), footer]);
    dialog.append(form);
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && document.contains(opener)) opener.focus();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks for confirmation. Resolves true when confirmed. Destructive prompts focus Cancel first. */
export async function confirmAction({ title, body, confirmLabel, danger = false, wide = false }) {
  const value = await openDialog({
    title,
    wide,
    build: () => body,
    buttons: [
      { label: 'Cancel', value: false, autofocus: danger },
      { label: confirmLabel, value: true, kind: danger ? 'danger' : 'primary', autofocus: !danger },
    ],
  });
  return value === true;
}

/**
 * A menu button (WAI-ARIA menu button pattern): `items` are `{label, onSelect, danger, id}`.
 * Arrow keys move, Home/End jump, Escape closes and returns focus to the button.
 */
export function menuButton(label, items, { id } = {}) {
  const menuId = uid('menu');
  const button = h('button', {
    type: 'button', class: 'button button-secondary menu-button', id: id || uid('menu-button'),
    'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': menuId,
  }, label, h('span', { class: 'chevron', 'aria-hidden': 'true' }, '▾'));
  const menu = h('ul', { class: 'menu', role: 'menu', id: menuId, 'aria-labelledby': button.id, hidden: true });
  const entries = items.map((item) => {
    const entry = h('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: item.danger ? 'menuitem menuitem-danger' : 'menuitem',
      dataset: item.id ? { action: item.id } : undefined,
    }, item.label);
    entry.addEventListener('click', () => {
      // Focus goes back to the menu button first, so a dialog opened by the item returns focus there.
      close(true);
      item.onSelect();
    });
    menu.append(h('li', { role: 'none' }, entry));
    return entry;
  });
  const wrapper = h('div', { class: 'menu-wrapper' }, button, menu);
  // Items can be hidden (their list item) where the action does not apply; the keyboard skips them.
  const shown = () => entries.filter((entry) => !entry.parentElement.hidden);

  function open(focusIndex = 0) {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    const visible = shown();
    visible[(focusIndex + visible.length) % Math.max(visible.length, 1)]?.focus();
    document.addEventListener('pointerdown', outside, true);
  }
  function close(returnFocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    if (returnFocus) button.focus();
  }
  function outside(event) {
    if (!wrapper.contains(event.target)) close(false);
  }
  const unavailable = () => button.getAttribute('aria-disabled') === 'true';
  button.addEventListener('click', () => {
    if (unavailable()) return;
    if (menu.hidden) open(0);
    else close();
  });
  button.addEventListener('keydown', (event) => {
    if (unavailable()) return;
    if (event.key === 'ArrowDown') { event.preventDefault(); open(0); }
    if (event.key === 'ArrowUp') { event.preventDefault(); open(-1); }
  });
  menu.addEventListener('keydown', (event) => {
    const visible = shown();
    const index = visible.indexOf(document.activeElement);
    const move = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: visible.length - 1 }[event.key];
    if (move !== undefined && visible.length) {
      event.preventDefault();
      visible[(move + visible.length) % visible.length].focus();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      close();
    } else if (event.key === 'Tab') {
      close(false);
    }
  });
  return wrapper;
}

/**
 * Shows a notice in `area`: kind is error, warning, success or info. Errors are alerts; the rest are
 * polite status messages. `actions` are `{label, onClick}` buttons.
 */
export function showNotice(area, { kind, title, message, details, actions = [] }) {
  const role = kind === 'error' || kind === 'warning' ? 'alert' : 'status';
  const notice = h('div', { class: `notice notice-${kind}`, role },
    h('p', { class: 'notice-title' }, title),
    message ? h('p', { class: 'notice-message' }, message) : null,
    details ? h('p', { class: 'notice-details' }, details) : null,
    actions.length ? h('div', { class: 'notice-actions' },
      actions.map((action) => h('button', {
        type: 'button', class: `button ${action.primary ? 'button-primary' : 'button-secondary'}`, onclick: action.onClick,
      }, action.label))) : null,
    h('button', { type: 'button', class: 'notice-dismiss', 'aria-label': 'Dismiss message', onclick: () => notice.remove() }, '×'));
  replace(area, notice);
  return notice;
}

/** Removes the notices of an area. */
export function clearNotice(area) { area.replaceChildren(); }

/**
 * Shows a refused request in plain words. A 412 or 428 means the page's copy of the resource is out of
 * date (or was sent without its ETag): that is explained, with a reload action.
 */
export function showError(area, error, { action, reload } = {}) {
  if (!('status' in error)) {
    // Not an HTTP answer: a fault of the console itself.
    console.error(error);
    return showNotice(area, {
      kind: 'error',
      title: `${action ? `${action}: ` : ''}the console hit an unexpected error`,
      message: String(error.message || error),
      details: 'Reload the page; if it happens again, please report it with the browser console’s output.',
    });
  }
  const status = error.status ? `${error.status} ${error.statusText || ''}`.trim() : 'no answer';
  if (error.status === 412 && reload) {
    return showNotice(area, {
      kind: 'warning',
      title: 'This page is out of date',
      message: `${action ? `${action} was not done: ` : ''}the resource changed after this page read it — another client, `
        + 'a fault rule or another tab changed it. UKO refuses a change sent with an old ETag so that nobody overwrites '
        + 'a change they have not seen. Nothing was changed. Reload to see the current state, then try again.',
      details: `UKO answered ${status}: ${error.message}${error.ifMatch && !error.message.includes(error.ifMatch) ? ` (If-Match sent: ${error.ifMatch})` : ''}`,
      actions: [{ label: 'Reload', onClick: reload, primary: true }],
    });
  }
  if (error.status === 428 && reload) {
    return showNotice(area, {
      kind: 'warning',
      title: 'This page has no current version of the resource',
      message: `${action ? `${action} was not done: ` : ''}the request went without an ETag, which UKO requires for every change. `
        + 'Reload to read the resource and its ETag again, then try again.',
      details: `UKO answered ${status}: ${error.message}`,
      actions: [{ label: 'Reload', onClick: reload }],
    });
  }
  if (error.path === '/identity/token') {
    return showNotice(area, {
      kind: 'error',
      title: 'The console could not sign in',
      message: error.message,
      details: 'Enter the API key uko-mock was started with (--api-key) in the connection settings.',
      actions: [{ label: 'Connection settings', onClick: () => document.dispatchEvent(new Event('uko-console:sign-in')) }],
    });
  }
  return showNotice(area, {
    kind: 'error',
    title: action ? `${action} was refused (${status})` : `The request failed (${status})`,
    message: error.message,
    details: error.code ? `Code: ${error.code} · ${error.method} ${error.path}` : `${error.method || ''} ${error.path || ''}`.trim(),
  });
}

/**
 * A table with a caption (visually hidden unless `showCaption`: the section heading says the same):
 * `columns` are `{label, className}`; `rows` are arrays of cells (nodes or text); a cell may be
 * `{header: true, content}` for a row header.
 */
export function table({ caption, columns, rows, empty = 'Nothing to show.', className = '', showCaption = false }) {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label))));
  const body = rows.length
    ? rows.map((cells) => h('tr', {}, cells.map((cell, index) => {
      if (cell && typeof cell === 'object' && !(cell instanceof Node) && !Array.isArray(cell) && 'content' in cell) {
        return h(cell.header ? 'th' : 'td', { scope: cell.header ? 'row' : undefined, class: columns[index]?.className }, cell.content);
      }
      return h('td', { class: columns[index]?.className }, cell);
    })))
    : h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty));
  return h('div', { class: 'table-wrap' },
    h('table', { class: `table ${className}` },
      h('caption', { class: showCaption ? undefined : 'visually-hidden' }, caption), head, h('tbody', {}, body)));
}

/** A definition list of `[term, value]` pairs. */
export function properties(pairs, className = '') {
  return h('dl', { class: `properties ${className}` },
    pairs.filter(Boolean).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value === '' || value === undefined || value === null ? '—' : value)]));
}

/** A labelled form field: `{label, control, hint}`; wires `for`, `id` and `aria-describedby`. */
export function field({ label, control, hint, className = '' }) {
  if (!control.id) control.id = uid('field');
  let hintNode = null;
  if (hint) {
    hintNode = h('p', { class: 'hint', id: uid('hint') }, hint);
    control.setAttribute('aria-describedby', hintNode.id);
  }
  return h('div', { class: `field ${className}` }, h('label', { for: control.id }, label), control, hintNode);
}

/** A `<select>` from `[value, label]` options. */
export function select(name, options, selected) {
  return h('select', { name },
    options.map(([value, label]) => h('option', { value, selected: String(value) === String(selected ?? '') || undefined }, label)));
}

/** A section with a heading (h2) labelling it. */
export function section(title, ...children) {
  const headingId = uid('section');
  return h('section', { class: 'panel', 'aria-labelledby': headingId }, h('h2', { id: headingId }, title), children);
}

/** A monospace id. */
export function code(text) { return h('code', { class: 'id' }, text); }

/**
 * The frame of a list page (title, lead, notices, a loading placeholder) filled with every item of a UKO
 * list. Resolves to `{ items, show }`, where `show(...children)` replaces the placeholder, or to null when
 * the list could not be read (the error is shown) or the view was left meanwhile.
 */
export async function listPage(main, ctx, { title, lead, noun, path, itemsName }) {
  ctx.setTitle(title);
  const notices = h('div', { class: 'notices' });
  const results = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, `Loading ${noun}…`));
  replace(main, h('div', { class: 'page-header' }, h('h1', {}, title), h('p', { class: 'lead' }, lead)), notices, results);
  let items;
  try {
    items = await ukoAll(path, itemsName);
  } catch (error) {
    replace(results);
    showError(notices, error, { action: `Listing ${noun}` });
    return null;
  }
  if (ctx.signal.aborted) return null;
  const show = (...children) => {
    results.removeAttribute('aria-busy');
    replace(results, ...children);
  };
  return { items, show };
}
