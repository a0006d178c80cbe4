// Vaults with their counters.

import { h, replace, formatTime } from '../dom.js';
import { ukoAll } from '../api.js';
import { showError, table, code } from '../ui.js';

export async function render(main, ctx) {
  ctx.setTitle('Vaults');
  const notices = h('div', { class: 'notices' });
  const results = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading vaults…'));
  replace(main,
    h('div', { class: 'page-header' }, h('h1', {}, 'Vaults'),
      h('p', { class: 'lead' }, 'Every template, keystore and managed key belongs to one vault.')),
    notices, results);
  let vaults;
  try {
    vaults = await ukoAll('/vaults', 'vaults');
  } catch (error) {
    replace(results);
    showError(notices, error, { action: 'Listing vaults' });
    return;
  }
  if (ctx.signal.aborted) return;
  results.removeAttribute('aria-busy');
  replace(results, table({
    caption: 'Vaults',
    columns: [{ label: 'Name' }, { label: 'ID', className: 'col-id' }, { label: 'Description' },
      { label: 'Keys', className: 'num' }, { label: 'Templates', className: 'num' }, { label: 'Keystores', className: 'num' },
      { label: 'Recovery key label' }, { label: 'Updated' }],
    rows: vaults.map((vault) => [
      { header: true, content: h('a', { href: `#/keys?vault.id=${encodeURIComponent(vault.id)}` }, vault.name) },
      code(vault.id),
      vault.description || '—',
      String(vault.keys_count),
      String(vault.key_templates_count),
      String(vault.keystores_count),
      vault.recovery_key_label || '—',
      formatTime(vault.updated_at),
    ]),
    empty: 'No vault.',
  }), h('p', { class: 'hint' }, 'A vault’s name opens the managed keys of that vault.'));
}
