// Key templates: what keys made from them look like and where they go.

import { h, replace, humanize, keystoreTypeLabel, stateLabel } from '../dom.js';
import { ukoAll } from '../api.js';
import { showError, table } from '../ui.js';

export async function render(main, ctx) {
  ctx.setTitle('Templates');
  const notices = h('div', { class: 'notices' });
  const results = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading templates…'));
  replace(main,
    h('div', { class: 'page-header' }, h('h1', {}, 'Templates'),
      h('p', { class: 'lead' }, 'A key made from a template goes to every keystore of the template’s type and group in the same vault.')),
    notices, results);
  let templates;
  try {
    templates = await ukoAll('/templates', 'templates');
  } catch (error) {
    replace(results);
    showError(notices, error, { action: 'Listing templates' });
    return;
  }
  if (ctx.signal.aborted) return;
  results.removeAttribute('aria-busy');
  replace(results, table({
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
