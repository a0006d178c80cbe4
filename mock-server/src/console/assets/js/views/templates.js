// Key templates: what keys made from them look like and where they go.

import { h, humanize, keystoreTypeLabel, stateLabel } from '../dom.js';
import { listPage, table } from '../ui.js';

export async function render(main, ctx) {
  const page = await listPage(main, ctx, {
    title: 'Templates',
    lead: 'A key made from a template goes to every keystore of the template’s type and group in the same vault.',
    noun: 'templates', path: '/templates', itemsName: 'templates',
  });
  if (!page) return;
  const templates = page.items;
  page.show(table({
    caption: 'Key templates',
    columns: [{ label: 'Name', className: 'nowrap' }, { label: 'Vault' }, { label: 'State' }, { label: 'Key', className: 'nowrap' }, { label: 'New keys' },
      { label: 'Keystores' }, { label: 'Naming scheme' }, { label: 'Keys', className: 'num' }, { label: 'Version', className: 'num' }],
    rows: templates.map((template) => [
      { header: true, content: h('a', { href: `#/keys?template.name=${encodeURIComponent(template.name)}` }, template.name) },
      template.vault?.name || '—',
      humanize(template.state) + ((template.type || []).includes('shadow') ? ' (shadow)' : ''),
      `${(template.key?.algorithm || '').toUpperCase()} ${template.key?.size || ''}`.trim(),
      stateLabel(template.key?.state),
      (template.keystores || []).map((k) => h('div', {}, keystoreTypeLabel(k.type), h('br'), h('span', { class: 'hint' }, `group ${k.group}`))),
      template.naming_scheme ? h('code', {}, template.naming_scheme) : '—',
      String(template.keys_count ?? '—'),
      String(template.version ?? '—'),
    ]),
    empty: 'No template.',
  }), h('p', { class: 'hint' }, 'A template’s name opens the managed keys made from it.'));
}
