// Vaults with their counters.

import { h, formatTime } from '../dom.js';
import { listPage, table, code } from '../ui.js';

export async function render(main, ctx) {
  const page = await listPage(main, ctx, {
    title: 'Vaults',
    lead: 'Every template, keystore and managed key belongs to one vault.',
    noun: 'vaults', path: '/vaults', itemsName: 'vaults',
  });
  if (!page) return;
  const vaults = page.items;
  page.show(table({
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
