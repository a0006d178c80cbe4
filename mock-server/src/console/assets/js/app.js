// The console's shell: hash routing (#/keys, #/keys/{id}, …), focus handling between views, and the
// connection settings (API key for IAM, admin token for the control plane).

import { h, replace } from './dom.js';
import {
  INSTANCE_ID, DEFAULT_API_KEY, apiKey, adminToken, onSessionChange, saveConnection, sessionState, signIn,
} from './api.js';
import { openDialog, field, announce, showError, showNotice, takeFlash } from './ui.js';
import * as keys from './views/keys.js';
import * as key from './views/key.js';
import * as keystores from './views/keystores.js';
import * as vaults from './views/vaults.js';
import * as templates from './views/templates.js';
import * as mock from './views/mock.js';
import * as journal from './views/journal.js';

const ROUTES = [
  { pattern: /^\/keys$/, section: 'keys', view: keys },
  { pattern: /^\/keys\/([^/]+)$/, section: 'keys', view: key },
  { pattern: /^\/keystores$/, section: 'keystores', view: keystores },
  { pattern: /^\/keystores\/([^/]+)$/, section: 'keystores', view: keystores, detail: true },
  { pattern: /^\/vaults$/, section: 'vaults', view: vaults },
  { pattern: /^\/templates$/, section: 'templates', view: templates },
  { pattern: /^\/mock$/, section: 'mock', view: mock },
  { pattern: /^\/journal$/, section: 'journal', view: journal },
];

const main = document.getElementById('main');
let current = null; // { path, controller }

function parseHash() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/keys';
  const [path, search = ''] = raw.split('?');
  return { path: decodeURIComponent(path), query: new URLSearchParams(search) };
}

async function route() {
  if (location.hash && !location.hash.startsWith('#/')) return; // in-page anchors such as #main
  const { path, query } = parseHash();
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  const samePath = current && current.path === path;
  current?.controller.abort();
  const controller = new AbortController();
  current = { path, controller };
  for (const link of document.querySelectorAll('.nav a')) {
    if (match && link.dataset.section === match.r.section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const ctx = {
    query,
    params: match ? match.m.slice(1).map(decodeURIComponent) : [],
    detail: match?.r.detail || false,
    signal: controller.signal,
    flash: takeFlash(),
    setTitle(title) { document.title = `${title} · UKO mock console`; },
  };
  replace(main);
  if (!match) {
    ctx.setTitle('Not found');
    replace(main, h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', {}, 'The console has no page at ', h('code', {}, location.hash), '. ', h('a', { href: '#/keys' }, 'Go to Managed keys'), '.'));
    main.querySelector('h1').focus();
    return;
  }
  try {
    await match.r.view.render(main, ctx);
  } catch (error) {
    if (controller.signal.aborted) return;
    const area = h('div', { class: 'notices' });
    main.append(area);
    showError(area, error);
  }
  if (controller.signal.aborted) return;
  // Focus: a new page puts focus on its heading; a new query on the same page (filters, paging) on the
  // element the view marks, so keyboard users keep their place.
  const target = (samePath && main.querySelector('[data-focus-on-update]')) || main.querySelector('h1');
  if (target && !main.contains(document.activeElement)) {
    target.setAttribute('tabindex', '-1');
    target.focus({ preventScroll: samePath });
  }
}

function renderSession(state) {
  const status = document.getElementById('session-status');
  const instance = INSTANCE_ID === 'default' ? '' : `Instance ${INSTANCE_ID} · `;
  status.textContent = `${instance}${state.signedIn ? 'Signed in' : 'Not signed in'}${state.apiKey !== DEFAULT_API_KEY ? ' (own API key)' : ''}`;
}

async function connectionDialog() {
  const keyInput = h('input', { type: 'text', name: 'apikey', value: apiKey(), autocomplete: 'off', spellcheck: 'false', required: true });
  const adminInput = h('input', { type: 'password', name: 'admin', value: adminToken(), autocomplete: 'off' });
  const errorArea = h('div', { class: 'notices' });
  await openDialog({
    title: 'Connection',
    build: () => [
      h('p', {}, 'The console gets an IAM access token from ', h('code', {}, 'POST /identity/token'),
        ' with an API key, as IBM’s SDKs do, and keeps it in this tab’s session storage.'),
      errorArea,
      field({ label: 'API key', control: keyInput, hint: `uko-mock accepts ${DEFAULT_API_KEY} unless started with --api-key.` }),
      field({ label: 'Admin token for mock controls (optional)', control: adminInput,
        hint: 'Only needed when uko-mock was started with --admin-token; sent as X-Admin-Token to /__mock/v1.' }),
    ],
    buttons: [
      { label: 'Cancel', value: null },
      { label: 'Sign in', submit: true, kind: 'primary', autofocus: true },
    ],
    onSubmit: async () => {
      saveConnection({ apiKey: keyInput.value.trim(), adminToken: adminInput.value.trim() });
      try {
        await signIn(keyInput.value.trim());
        announce('Signed in.');
        route();
        return true;
      } catch (error) {
        showNotice(errorArea, {
          kind: 'error',
          title: 'Sign-in failed',
          message: error.message,
          details: error.code ? `IAM error ${error.code}` : null,
        });
        keyInput.focus();
        return undefined;
      }
    },
  });
}

document.getElementById('connection-button').addEventListener('click', connectionDialog);
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
onSessionChange(renderSession);
renderSession(sessionState());
window.addEventListener('hashchange', route);
document.addEventListener('uko-console:sign-in', connectionDialog);
if (!location.hash) history.replaceState(null, '', '#/keys');
route();
