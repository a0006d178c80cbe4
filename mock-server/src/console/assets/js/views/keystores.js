// Keystores: type, health and keys; one keystore's page with its status and the keys it holds.

import { h, replace, formatTime, humanize, keystoreTypeLabel, stateBadge } from '../dom.js';
import { uko } from '../api.js';
import { listPage, showError, table, properties, section, code } from '../ui.js';

export async function render(main, ctx) {
  if (ctx.detail) return renderOne(main, ctx, ctx.params[0]);
  const page = await listPage(main, ctx, {
    title: 'Keystores',
    lead: 'The keystores UKO distributes keys to. Health comes from each keystore’s last check; an unreachable keystore shows “Not responding”.',
    noun: 'keystores', path: '/keystores', itemsName: 'keystores',
  });
  if (!page) return;
  const keystores = page.items;
  const counts = await Promise.all(keystores.map((keystore) =>
    uko('GET', `/keystores/${encodeURIComponent(keystore.id)}/managed_keys`, { query: { limit: 1 } })
      .then(({ body }) => body.total_count).catch(() => null)));
  if (ctx.signal.aborted) return;
  page.show(table({
    caption: 'Keystores',
    columns: [{ label: 'Name' }, { label: 'Type' }, { label: 'Location' }, { label: 'Groups' }, { label: 'Vault' },
      { label: 'Health' }, { label: 'Keys', className: 'num' }],
    rows: keystores.map((keystore, index) => [
      { header: true, content: h('a', { href: `#/keystores/${encodeURIComponent(keystore.id)}` }, keystore.name) },
      keystoreTypeLabel(keystore.type) + (keystore.ibm_variant ? ` (${humanize(keystore.ibm_variant)})` : ''),
      keystore.location || '—',
      (keystore.groups || []).join(', ') || '—',
      keystore.vault?.name || '—',
      healthBadge(keystore.status),
      counts[index] === null ? '—' : String(counts[index]),
    ]),
    empty: 'No keystore.',
  }), h('p', { class: 'hint' }, 'Keys: the active and pre-active keys a keystore holds (GET /keystores/{id}/managed_keys).'));
}

/** A health badge from a keystore status object. */
export function healthBadge(status) {
  const health = status?.health_status || 'unknown';
  const kinds = { ok: 'in-sync', not_responding: 'error', configuration_error: 'error', pending_check: 'verifying' };
  const labels = { ok: 'OK', not_responding: 'Not responding', configuration_error: 'Configuration error', pending_check: 'Pending check' };
  return h('span', { class: `badge flag flag-${kinds[health] || 'none'}`, title: status?.message || '' }, labels[health] || humanize(health));
}

async function renderOne(main, ctx, id) {
  ctx.setTitle('Keystore');
  const title = h('h1', {}, 'Keystore');
  const notices = h('div', { class: 'notices' });
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading the keystore…'));
  replace(main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('ol', {}, h('li', {}, h('a', { href: '#/keystores' }, 'Keystores')), h('li', { 'aria-current': 'page' }, 'Keystore'))),
    h('div', { class: 'page-header page-header-row' }, h('div', {}, title),
      h('div', { class: 'toolbar' }, h('a', { class: 'button button-ghost', href: `#/mock?keystore=${encodeURIComponent(id)}` }, 'Mock controls for this keystore'))),
    notices, body);
  const path = `/keystores/${encodeURIComponent(id)}`;
  const [keystore, status, keys] = await Promise.allSettled([
    uko('GET', path),
    uko('GET', `${path}/status`),
    uko('GET', `${path}/managed_keys`, { query: { limit: 100, state: 'pre_activation,active,deactivated,destroyed' } }),
  ]);
  if (ctx.signal.aborted) return;
  body.removeAttribute('aria-busy');
  if (keystore.status === 'rejected') {
    replace(body);
    showError(notices, keystore.reason, { action: 'Reading the keystore' });
    return;
  }
  const k = keystore.value.body;
  ctx.setTitle(k.name);
  replace(title, k.name);
  main.querySelector('.breadcrumb li[aria-current]').textContent = k.name;
  const s = status.status === 'fulfilled' ? status.value.body : k.status;
  replace(body,
    section('Keystore properties', properties([
      ['ID', code(k.id)],
      ['Type', keystoreTypeLabel(k.type)],
      ['Description', k.description],
      ['Location', k.location],
      ['Groups', (k.groups || []).join(', ')],
      ['Vault', k.vault?.name],
      ['Created', formatTime(k.created_at)],
      ['Updated', formatTime(k.updated_at)],
      ['ETag', keystore.value.etag ? code(keystore.value.etag) : '—'],
    ], 'properties-grid')),
    section('Health', properties([
      ['Health', healthBadge(s)],
      ['Message', s?.message],
      ['Last heartbeat', formatTime(s?.last_heartbeat)],
    ])),
    section('Keys in this keystore', keys.status === 'fulfilled'
      ? table({
        caption: `Keys in ${k.name} (${keys.value.body.total_count})`,
        columns: [{ label: 'Label' }, { label: 'ID', className: 'col-id' }, { label: 'State' }, { label: 'Template' }],
        rows: (keys.value.body.managed_keys || []).map((key) => [
          { header: true, content: h('a', { href: `#/keys/${encodeURIComponent(key.id)}` }, key.label) },
          code(key.id), stateBadge(key.state), key.template?.name || '—',
        ]),
        empty: 'This keystore holds no key.',
      })
      : h('p', { class: 'hint' }, `Keys could not be read: ${keys.reason.message}`)));
}
