// Managed keys: the list with its Out-of-sync flag, filters, and paging through the API's links.

import { h, replace, stateBadge, syncSummary, syncBadge, hrefQuery } from '../dom.js';
import { uko, ukoAll } from '../api.js';
import { field, select, showError, showNotice, table, code } from '../ui.js';

const FILTERS = ['label', 'state', 'vault.id', 'template.name', 'status_in_keystores[].keystore_sync_flag', 'limit'];

export async function render(main, ctx) {
  ctx.setTitle('Managed keys');
  const notices = h('div', { class: 'notices' });
  const results = h('div', { class: 'results', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading keys…'));
  const filterSlot = h('div');
  replace(main,
    h('div', { class: 'page-header' },
      h('h1', {}, 'Managed keys'),
      h('p', { class: 'lead' }, 'Keys flagged ', h('strong', {}, 'Out of sync'),
        ' differ from their state in at least one keystore. Open a key to verify and sync it.')),
    notices, filterSlot, results);
  if (ctx.flash) showNotice(notices, { kind: 'success', title: ctx.flash });

  const query = new URLSearchParams(ctx.query);
  if (!query.has('limit')) query.set('limit', '20');
  const [listing, vaults, templates] = await Promise.allSettled([
    uko('GET', '/managed_keys', { query }),
    ukoAll('/vaults', 'vaults'),
    ukoAll('/templates', 'templates'),
  ]);
  if (ctx.signal.aborted) return;
  filterSlot.append(filterForm(ctx.query,
    vaults.status === 'fulfilled' ? vaults.value : [], templates.status === 'fulfilled' ? templates.value : []));
  results.removeAttribute('aria-busy');
  if (listing.status === 'rejected') {
    replace(results);
    showError(notices, listing.reason, { action: 'Listing keys' });
    return;
  }
  renderResults(results, listing.value.body);
}

function filterForm(query, vaults, templates) {
  const label = h('input', { type: 'search', name: 'label', value: query.get('label') || '', autocomplete: 'off' });
  const state = select('state', [['', 'Any state'], ['pre_activation', 'Pre-active'], ['active', 'Active'],
    ['deactivated', 'Deactivated'], ['destroyed', 'Destroyed']], query.get('state'));
  const vault = select('vault.id', [['', 'Any vault'], ...vaults.map((v) => [v.id, v.name])], query.get('vault.id'));
  const template = select('template.name', [['', 'Any template'], ...templates.map((t) => [t.name, t.name])], query.get('template.name'));
  const sync = select('status_in_keystores[].keystore_sync_flag', [['', 'Any'], ['out_of_sync', 'Out of sync'], ['ok', 'In sync'],
    ['error', 'Keystore error']], query.get('status_in_keystores[].keystore_sync_flag'));
  const current = query.get('limit') || '20';
  const sizes = [...new Set(['10', '20', '50', '100', current])].sort((a, b) => Number(a) - Number(b));
  const limit = select('limit', sizes.map((size) => [size, size]), current);
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter managed keys' },
    field({ label: 'Label starts with', control: label }),
    field({ label: 'State', control: state }),
    field({ label: 'Vault', control: vault }),
    field({ label: 'Template', control: template }),
    field({ label: 'Keystore sync', control: sync }),
    field({ label: 'Per page', control: limit }),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'button button-primary' }, 'Apply filters'),
      h('a', { class: 'button button-ghost', href: '#/keys' }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value && !(name === 'limit' && value === '20')) params.set(name, value);
    }
    location.hash = `#/keys${params.toString() ? `?${params}` : ''}`;
  });
  return form;
}

function renderResults(results, body) {
  const items = body.managed_keys || [];
  const first = items.length ? body.offset + 1 : 0;
  const last = body.offset + items.length;
  const page = Math.floor(body.offset / body.limit) + 1;
  const pages = Math.max(1, Math.ceil(body.total_count / body.limit));
  const rows = items.map((key) => {
    const summary = syncSummary(key.status_in_keystores);
    return [
      { header: true, content: h('a', { href: `#/keys/${encodeURIComponent(key.id)}`, class: 'key-link' }, key.label) },
      code(key.id),
      key.vault?.name || '—',
      stateBadge(key.state),
      key.template?.name || '—',
      syncBadge(summary),
    ];
  });
  replace(results,
    h('p', { class: 'results-summary', 'data-focus-on-update': '' },
      body.total_count === 0 ? 'No managed key matches.' : `Showing ${first}–${last} of ${body.total_count} managed keys`),
    table({
      caption: 'Managed keys',
      className: 'keys-table',
      columns: [{ label: 'Label' }, { label: 'ID', className: 'col-id' }, { label: 'Vault' }, { label: 'State' },
        { label: 'Template' }, { label: 'Keystores' }],
      rows,
      empty: 'No managed key matches these filters.',
    }),
    pager(body, page, pages));
}

/** Paging from the API's own `first`/`previous`/`next`/`last` links. */
function pager(body, page, pages) {
  const link = (name, label, current) => {
    const target = body[name];
    if (!target || current) return h('span', { class: 'button button-ghost', 'aria-disabled': 'true' }, label);
    const params = hrefQuery(target.href);
    if (params.get('limit') === '20') params.delete('limit');
    return h('a', { class: 'button button-ghost', href: `#/keys${params.toString() ? `?${params}` : ''}` }, label);
  };
  return h('nav', { class: 'pager', 'aria-label': 'Pages of managed keys' },
    link('first', 'First', page === 1),
    link('previous', '‹ Previous'),
    h('span', { class: 'pager-position' }, `Page ${page} of ${pages}`),
    link('next', 'Next ›'),
    link('last', 'Last', page === pages));
}
