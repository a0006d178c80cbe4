// One managed key: properties, status per keystore, versions, and the key's actions. Every change is sent
// with `If-Match: <ETag of the GET this page made>`, as any UKO client must.

import {
  h, replace, formatTime, humanize, describeEntry, stateBadge, stateLabel, syncSummary, syncBadge, entryFlagBadge, keystoreTypeLabel,
} from '../dom.js';
import { uko } from '../api.js';
import {
  menuButton, confirmAction, showError, showNotice, clearNotice, table, properties, section, code, announce, setFlash,
} from '../ui.js';

// The lifecycle actions UKO allows per key state (uko-semantics.md §2.2, the mock's defaults); verify and
// sync apply in every state. Destroy from pre_activation is allowed by default (the realistic profile refuses
// it, and the refusal is shown).
const ACTIONS_BY_STATE = {
  pre_activation: ['activate', 'destroy'],
  active: ['deactivate', 'rotate'],
  deactivated: ['activate', 'destroy'],
  destroyed: ['delete'],
};

export async function render(main, ctx) {
  const id = ctx.params[0];
  const page = { key: null, etag: null, statuses: [], versions: [], verifiedAt: null, busy: false };
  ctx.setTitle('Managed key');

  const title = h('h1', {}, 'Managed key');
  const badges = h('div', { class: 'title-badges' });
  const notices = h('div', { class: 'notices' });
  const propertiesSlot = h('div');
  const statusSlot = h('div', { id: 'status-in-keystores' });
  const versionsSlot = h('div');
  const actions = menuButton('Actions', [
    { id: 'verify', label: 'Verify sync', onSelect: () => run(verifySync) },
    { id: 'sync', label: 'Sync key…', onSelect: () => run(syncKey) },
    { id: 'activate', label: 'Activate', onSelect: () => run(() => lifecycle('activate', 'Activate')) },
    { id: 'deactivate', label: 'Deactivate…', onSelect: () => run(() => lifecycle('deactivate', 'Deactivate')) },
    { id: 'rotate', label: 'Rotate…', onSelect: () => run(() => lifecycle('rotate', 'Rotate')) },
    { id: 'destroy', label: 'Destroy…', danger: true, onSelect: () => run(() => lifecycle('destroy', 'Destroy')) },
    { id: 'delete', label: 'Delete…', danger: true, onSelect: () => run(deleteKey) },
  ], { id: 'key-actions' });
  const actionsButton = actions.querySelector('button');

  replace(main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('ol', {}, h('li', {}, h('a', { href: '#/keys' }, 'Managed keys')), h('li', { 'aria-current': 'page' }, h('span', { class: 'crumb-current' }, 'Key')))),
    h('div', { class: 'page-header page-header-row' },
      h('div', {}, title, badges),
      h('div', { class: 'toolbar' },
        actions,
        h('button', { type: 'button', class: 'button button-ghost', onclick: () => run(() => reload()) }, 'Reload'),
        h('a', { class: 'button button-ghost', href: `#/mock?key=${encodeURIComponent(id)}` }, 'Make it diverge (mock)'))),
    notices,
    section('Key properties', propertiesSlot),
    section('Status in keystores', statusSlot),
    section('Versions', versionsSlot));

  await load();

  /** Reads the key (keeping its ETag) and its versions, and renders them. */
  async function load() {
    const [keyResult, versionsResult] = await Promise.allSettled([
      uko('GET', `/managed_keys/${encodeURIComponent(id)}`),
      uko('GET', `/managed_keys/${encodeURIComponent(id)}/versions`),
    ]);
    if (ctx.signal.aborted) return;
    if (keyResult.status === 'rejected') {
      showError(notices, keyResult.reason, { action: 'Reading the key' });
      replace(title, 'Managed key not available');
      actionsButton.disabled = true;
      return;
    }
    page.key = keyResult.value.body;
    page.etag = keyResult.value.etag;
    page.statuses = page.key.status_in_keystores || [];
    page.versions = versionsResult.status === 'fulfilled' ? versionsResult.value.body.managed_keys || [] : null;
    actionsButton.disabled = false;
    ctx.setTitle(page.key.label);
    main.querySelector('.crumb-current').textContent = page.key.label;
    replace(title, page.key.label);
    renderBadges();
    offerActions();
    renderProperties();
    renderStatuses();
    renderVersions(versionsResult.status === 'rejected' ? versionsResult.reason : null);
  }

  async function reload() {
    clearNotice(notices);
    await load();
    announce('Key reloaded.');
    title.setAttribute('tabindex', '-1');
    title.focus();
  }

  /** Shows only the lifecycle actions UKO allows in the key's state (uko-semantics.md §2.2). */
  function offerActions() {
    const allowed = new Set(['verify', 'sync', ...(ACTIONS_BY_STATE[page.key.state] || [])]);
    for (const item of actions.querySelectorAll('[data-action]')) item.parentElement.hidden = !allowed.has(item.dataset.action);
  }

  function renderBadges() {
    replace(badges, stateBadge(page.key.state), syncBadge(syncSummary(page.statuses)));
  }

  function renderProperties() {
    const key = page.key;
    const template = key.template
      ? [key.template.name, key.template.alignment_status ? ` (${humanize(key.template.alignment_status)})` : '']
      : '—';
    const patterns = (key.verification_patterns || []).map((p) => `${p.method} ${p.value}`).join(', ');
    const instances = (key.instances || []).map((instance) => h('div', {},
      h('code', {}, instance.label_in_keystore), ` · ${humanize(instance.type)} · ${keystoreTypeLabel(instance.keystore?.type)} group `,
      h('strong', {}, instance.keystore?.group || '—')));
    const tags = (list) => (list || []).map((t) => `${t.name}=${t.value}`).join(', ');
    replace(propertiesSlot, properties([
      ['ID', code(key.id)],
      ['Label', key.label],
      ['Description', key.description],
      ['State', stateLabel(key.state)],
      ['Vault', key.vault ? h('a', { href: '#/vaults' }, key.vault.name) : '—'],
      ['Template', template],
      ['Algorithm', `${(key.algorithm || '').toUpperCase()} ${key.size || ''}`.trim()],
      ['Version', String(key.version ?? '—')],
      ['Activation date', key.activation_date],
      ['Expiration date', key.expiration_date],
      ['Created', `${formatTime(key.created_at)} by ${key.created_by || '—'}`],
      ['Updated', `${formatTime(key.updated_at)} by ${key.updated_by || '—'}`],
      key.rotated_at ? ['Rotated', formatTime(key.rotated_at)] : null,
      ['Verification pattern', patterns],
      ['Key material present', (key.key_material_present || []).map(humanize).join(', ')],
      ['Label tags', tags(key.label_tags)],
      ['Tags', tags(key.tags)],
      ['Instances', instances.length ? instances : '—'],
      ['ETag (from this page’s last read)', page.etag ? code(page.etag) : '—'],
    ], 'properties-grid'));
  }

  function renderStatuses() {
    const rows = page.statuses.map((entry) => [
      { header: true, content: entry.keystore?.id
        ? h('a', { href: `#/keystores/${encodeURIComponent(entry.keystore.id)}` }, entry.keystore.name || entry.keystore.id)
        : '—' },
      keystoreTypeLabel(entry.keystore?.type),
      humanize(entry.status),
      entryFlagBadge(entry.keystore_sync_flag),
      h('span', {}, describeEntry(entry), h('br'), h('code', { class: 'detail-code' }, entry.keystore_sync_flag_detail)),
      entry.key_id_in_keystore ? code(entry.key_id_in_keystore) : '—',
      entry.error?.errors?.[0]?.message || (entry.destruction_at ? `Destruction at ${formatTime(entry.destruction_at)}` : ''),
    ]);
    const verified = page.verifiedAt ? `Verified with GET status_in_keystores at ${page.verifiedAt}.` : 'As embedded in the key; use Actions › Verify sync to ask the keystores again.';
    replace(statusSlot,
      h('p', { class: 'hint' }, verified),
      table({
        caption: 'Status of this key in each keystore',
        className: 'status-table',
        columns: [{ label: 'Keystore' }, { label: 'Type' }, { label: 'Status' }, { label: 'Sync' }, { label: 'Detail' },
          { label: 'Key ID in keystore', className: 'col-id' }, { label: 'Error' }],
        rows,
        empty: 'The key is not linked to any keystore.',
      }));
  }

  function renderVersions(error) {
    if (error) {
      replace(versionsSlot, h('p', { class: 'hint' }, `Versions could not be read: ${error.message}`));
      return;
    }
    replace(versionsSlot, table({
      caption: 'Key material versions, latest first',
      columns: [{ label: 'Version' }, { label: 'State' }, { label: 'Created' }, { label: 'Rotated' }, { label: 'Verification pattern' }],
      rows: (page.versions || []).map((version) => [
        { header: true, content: String(version.version) },
        stateBadge(version.state),
        formatTime(version.created_at),
        formatTime(version.rotated_at),
        (version.verification_patterns || []).map((p) => `${p.method} ${p.value}`).join(', ') || '—',
      ]),
      empty: 'No versions.',
    }));
  }

  /** Runs one action at a time, with the page marked busy meanwhile. */
  async function run(action) {
    if (page.busy || !page.key) return;
    page.busy = true;
    main.setAttribute('aria-busy', 'true');
    // aria-disabled, not disabled: a disabled button loses focus, and focus must come back to it.
    actionsButton.setAttribute('aria-disabled', 'true');
    try {
      await action();
    } finally {
      page.busy = false;
      main.removeAttribute('aria-busy');
      actionsButton.removeAttribute('aria-disabled');
    }
  }

  async function verifySync() {
    clearNotice(notices);
    try {
      const { body } = await uko('GET', `/managed_keys/${encodeURIComponent(id)}/status_in_keystores`);
      page.statuses = body.status_in_keystores || [];
      page.verifiedAt = new Date().toLocaleTimeString();
      renderStatuses();
      renderBadges();
      const out = page.statuses.filter((e) => e.keystore_sync_flag === 'out_of_sync');
      const errors = page.statuses.filter((e) => e.keystore_sync_flag === 'error');
      if (out.length) {
        showNotice(notices, {
          kind: 'attention',
          title: `Verify sync: out of sync in ${out.length} of ${page.statuses.length} keystores`,
          message: out.map((e) => `${e.keystore?.name}: ${describeEntry(e)}`).join('; '),
          details: 'Use Actions › Sync key to bring the keystores in line with the key.',
        });
      } else if (errors.length) {
        showNotice(notices, {
          kind: 'attention',
          title: `Verify sync: ${errors.length} keystore${errors.length > 1 ? 's' : ''} could not be checked`,
          message: errors.map((e) => `${e.keystore?.name}: ${e.error?.errors?.[0]?.message || describeEntry(e)}`).join('; '),
        });
      } else {
        showNotice(notices, { kind: 'success', title: `Verify sync: in sync in all ${page.statuses.length} keystores` });
      }
    } catch (error) {
      showError(notices, error, { action: 'Verify sync' });
    }
  }

  async function syncKey() {
    clearNotice(notices);
    const key = page.key;
    const rows = page.statuses.map((entry) => [
      { header: true, content: entry.keystore?.name || entry.keystore?.id || '—' },
      keystoreTypeLabel(entry.keystore?.type),
      entryFlagBadge(entry.keystore_sync_flag),
      describeEntry(entry),
      {
        out_of_sync: `Brought in line with the key (${stateLabel(key.state)})`,
        ok: 'Stays as it is',
        error: 'Cannot be reached; stays as it is',
      }[entry.keystore_sync_flag] || 'Stays as it is',
    ]);
    const confirmed = await confirmAction({
      title: `Sync key ${key.label}`,
      wide: true,
      body: [
        h('p', {}, 'UKO will bring the key’s state in these keystores back in line with its state in UKO (',
          h('strong', {}, stateLabel(key.state)), '). Confirm the keystores:'),
        table({
          caption: 'Keystores of this key',
          className: 'sync-confirm-table',
          columns: [{ label: 'Keystore' }, { label: 'Type' }, { label: 'Sync' }, { label: 'Detail' }, { label: 'What sync does' }],
          rows,
          empty: 'The key is not linked to any keystore.',
        }),
        h('p', { class: 'hint' }, 'The request is POST sync_status_in_keystores with If-Match ', code(page.etag || '(none)'),
          ', the ETag this page read.'),
      ],
      confirmLabel: 'Sync key',
    });
    if (!confirmed) {
      announce('Sync cancelled.');
      return;
    }
    try {
      const { body } = await uko('POST', `/managed_keys/${encodeURIComponent(id)}/sync_status_in_keystores`, { ifMatch: page.etag });
      const after = body?.status_in_keystores || [];
      // Read the key again: its current statuses and the ETag for the next change.
      await load();
      const remaining = after.filter((e) => e.keystore_sync_flag !== 'ok');
      showNotice(notices, remaining.length
        ? { kind: 'attention', title: `Key synced; ${remaining.length} keystore${remaining.length > 1 ? 's are' : ' is'} still not in sync`,
          message: remaining.map((e) => `${e.keystore?.name}: ${describeEntry(e)}`).join('; ') }
        : { kind: 'success', title: `Key synced: in sync in all ${after.length} keystores` });
    } catch (error) {
      showError(notices, error, { action: 'Sync key', reload });
    }
  }

  async function lifecycle(action, verb) {
    clearNotice(notices);
    const key = page.key;
    const prompts = {
      deactivate: { body: 'The key is deactivated in UKO and in its keystores; applications can no longer encrypt with it.', danger: false },
      rotate: { body: 'A new version of the key material is created and installed in the keystores.', danger: false },
      destroy: { body: 'The key material is destroyed in its keystores (after their pending-destruction period). This cannot be undone.', danger: true },
    };
    const prompt = prompts[action];
    if (prompt) {
      const confirmed = await confirmAction({
        title: `${verb} key ${key.label}?`,
        body: [h('p', {}, prompt.body), h('p', { class: 'hint' }, `Current state: ${stateLabel(key.state)}.`)],
        confirmLabel: verb,
        danger: prompt.danger,
      });
      if (!confirmed) {
        announce(`${verb} cancelled.`);
        return;
      }
    }
    try {
      await uko('POST', `/managed_keys/${encodeURIComponent(id)}/${action}`, { ifMatch: page.etag });
      await load();
      const done = { activate: 'activated', deactivate: 'deactivated', rotate: 'rotated', destroy: 'destroyed' }[action];
      showNotice(notices, { kind: 'success', title: `Key ${done}. State: ${stateLabel(page.key.state)}, version ${page.key.version}.` });
    } catch (error) {
      showError(notices, error, { action: verb, reload });
    }
  }

  async function deleteKey() {
    clearNotice(notices);
    const key = page.key;
    const confirmed = await confirmAction({
      title: `Delete key ${key.label}?`,
      body: [h('p', {}, 'The key is removed from UKO. Only destroyed keys can be deleted.'),
        h('p', { class: 'hint' }, `Current state: ${stateLabel(key.state)}.`)],
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!confirmed) {
      announce('Delete cancelled.');
      return;
    }
    try {
      await uko('DELETE', `/managed_keys/${encodeURIComponent(id)}`, { ifMatch: page.etag });
      setFlash(`Managed key ${key.label} was deleted.`);
      location.hash = '#/keys';
    } catch (error) {
      showError(notices, error, { action: 'Delete', reload });
    }
  }
}
