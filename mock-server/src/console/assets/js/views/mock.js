// Mock controls: everything here goes to the control plane (/__mock/v1), never to /api/v4 — except the
// reads that show what a change did to a key, which are ordinary UKO GETs.

import { h, replace, humanize, describeEntry, formatTime, uid, syncSummary, syncBadge } from '../dom.js';
import { uko, ukoAll, control, CONTROL_BASE } from '../api.js';
import {
  field, select, section, showError, showNotice, clearNotice, confirmAction, table, code, announce,
} from '../ui.js';

const COPIES = [
  ['absent', 'Missing', 'The keystore does not hold the key (deleted out of band).'],
  ['inactive', 'Inactive', 'The keystore holds the key, disabled.'],
  ['wrong_key', 'Wrong key', 'The keystore holds other key material under the key’s id.'],
  ['inactive', 'Destroy failed', 'For a destroyed key: the destroy did not reach the keystore, which still holds it (disabled).'],
  ['active', 'Active', 'The keystore holds the key, enabled (for a deactivated or destroyed key: the change did not reach it).'],
  ['pending_destruction', 'Pending destruction', 'The keystore has scheduled the key’s deletion.'],
];

const OPERATIONS = [
  'SyncManagedKey', 'GetManagedKey', 'ListManagedKeys', 'GetKeyDistributionStatusForKeystores', 'ActivateManagedKey',
  'DeactivateManagedKey', 'DestroyManagedKey', 'DeleteManagedKey', 'RotateManagedKey', 'UpdateManagedKey',
  'UpdateManagedKeyFromTemplate', 'CreateManagedKey', 'ListManagedKeyVersions', 'ListAssociatedResourcesForManagedKey',
  'ListKeyTemplates', 'GetKeyTemplate', 'CreateKeyTemplate', 'UpdateKeyTemplate', 'DeleteKeyTemplate', 'ArchiveKeyTemplate',
  'UnarchiveKeyTemplate', 'ExposeKeyTemplate', 'ListKeystores', 'GetKeystore', 'CreateKeystore', 'UpdateKeystore',
  'DeleteKeystore', 'GetKeystoreStatus', 'ListManagedKeysFromKeystore', 'ListAssociatedResourcesForTargetKeystore',
  'ListVaults', 'GetVault', 'CreateVault', 'UpdateVault', 'DeleteVault',
];

export async function render(main, ctx) {
  ctx.setTitle('Mock controls');
  const notices = h('div', { class: 'notices' });
  replace(main,
    h('div', { class: 'page-header' }, h('h1', {}, 'Mock controls'),
      h('p', { class: 'lead' }, 'Make the simulated keystores and the service misbehave, then watch a client cope. These controls use the mock’s control plane at ',
        code(CONTROL_BASE), '; they are not part of UKO.')),
    notices);
  const [keysResult, keystoresResult] = await Promise.allSettled([
    ukoAll('/managed_keys', 'managed_keys'),
    ukoAll('/keystores', 'keystores'),
  ]);
  if (ctx.signal.aborted) return;
  if (keysResult.status === 'rejected') showError(notices, keysResult.reason, { action: 'Listing keys' });
  else if (keystoresResult.status === 'rejected') showError(notices, keystoresResult.reason, { action: 'Listing keystores' });
  const keys = keysResult.status === 'fulfilled' ? keysResult.value : [];
  const keystores = keystoresResult.status === 'fulfilled' ? keystoresResult.value : [];

  main.append(h('div', { class: 'mock-grid' },
    divergencePanel(keys, keystores, ctx.query.get('key')),
    reachabilityPanel(keystores, ctx.query.get('keystore')),
    clockPanel(ctx),
    statePanel(),
    faultsPanel(keys, keystores)));
}

/** A result area under a form (polite status messages; errors are alerts). */
function resultArea() { return h('div', { class: 'notices' }); }

/** Runs a form's action with its submit button disabled. */
function onSubmit(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll('button')];
    for (const button of buttons) button.disabled = true;
    try {
      await action();
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}

function divergencePanel(keys, keystores, preselectedKey) {
  const byId = new Map(keystores.map((k) => [k.id, k]));
  const keySelect = select('managed_key', keys.map((k) => [k.id, `${k.label} (${humanize(k.state).toLowerCase()})`]), preselectedKey);
  const keystoreSelect = h('select', { name: 'keystore' });
  const fillKeystores = () => {
    const key = keys.find((k) => k.id === keySelect.value);
    const referenced = (key?.referenced_keystores || []).map((r) => byId.get(r.id) || r);
    replace(keystoreSelect, referenced.length
      ? referenced.map((k) => h('option', { value: k.id }, k.name))
      : h('option', { value: '' }, 'This key has no keystore'));
  };
  keySelect.addEventListener('change', fillKeystores);
  fillKeystores();
  const radioName = uid('copy');
  const choices = h('fieldset', { class: 'choices' }, h('legend', {}, 'What the keystore holds'),
    COPIES.map(([value, label, hint], index) => {
      const id = uid('copy-choice');
      return h('div', { class: 'choice' },
        h('input', { type: 'radio', name: radioName, id, value, checked: index === 0 || undefined, dataset: { label } }),
        h('label', { for: id }, h('strong', {}, label), ' — ', hint));
    }));
  const result = resultArea();
  const form = h('form', { class: 'form', 'aria-label': 'Make a key diverge in a keystore' },
    field({ label: 'Managed key', control: keySelect }),
    field({ label: 'Keystore', control: keystoreSelect, hint: 'The keystores the key is linked to.' }),
    choices,
    h('div', { class: 'form-buttons' }, h('button', { type: 'submit', class: 'button button-primary' }, 'Apply to the keystore')),
    result);
  onSubmit(form, async () => {
    clearNotice(result);
    const chosen = form.querySelector(`input[name="${radioName}"]:checked`);
    const keystoreId = keystoreSelect.value;
    const key = keys.find((k) => k.id === keySelect.value);
    if (!keystoreId || !key) {
      showNotice(result, { kind: 'error', title: 'Choose a key that is linked to a keystore.' });
      return;
    }
    try {
      await control('PUT', `/keystores/${encodeURIComponent(keystoreId)}/copies/${encodeURIComponent(key.id)}`, { body: { copy: chosen.value } });
      const { body } = await uko('GET', `/managed_keys/${encodeURIComponent(key.id)}/status_in_keystores`);
      const entry = (body.status_in_keystores || []).find((e) => e.keystore?.id === keystoreId);
      const summary = syncSummary(body.status_in_keystores);
      showNotice(result, {
        kind: 'success',
        title: `${byId.get(keystoreId)?.name || keystoreId} now holds ${key.label} as “${chosen.dataset.label}”.`,
        message: entry ? `UKO now reports: ${describeEntry(entry)} (status ${entry.status}, ${humanize(entry.keystore_sync_flag).toLowerCase()}, detail code ${entry.keystore_sync_flag_detail}). The key is ${summary.label.toLowerCase()}.` : null,
        actions: [{ label: 'Open the key', onClick: () => { location.hash = `#/keys/${encodeURIComponent(key.id)}`; } }],
      });
    } catch (error) {
      showError(result, error, { action: 'Changing the keystore' });
    }
  });
  return section('Make a key diverge in a keystore', h('p', { class: 'hint' },
    'Changes what the simulated keystore holds, as if someone changed it outside UKO. The key’s status in keystores then shows it out of sync until it is synced.'), form);
}

function reachabilityPanel(keystores, preselected) {
  const keystoreSelect = select('keystore', keystores.map((k) => [k.id, k.name]), preselected);
  const name = uid('reach');
  const calls = h('input', { type: 'number', name: 'remaining', min: '1', max: '1000', value: '3', inputmode: 'numeric' });
  const option = (value, label, extra) => {
    const id = uid('reach-choice');
    return h('div', { class: 'choice' },
      h('input', { type: 'radio', name, id, value, checked: value === 'unreachable' || undefined }),
      h('label', { for: id }, label), extra || null);
  };
  const callsId = uid('calls');
  calls.id = callsId;
  const result = resultArea();
  const form = h('form', { class: 'form', 'aria-label': 'Keystore reachability' },
    field({ label: 'Keystore', control: keystoreSelect }),
    h('fieldset', { class: 'choices' }, h('legend', {}, 'Reachability'),
      option('unreachable', 'Unreachable — every call to it fails'),
      option('unreachable_for_calls', 'Unreachable for the next calls, then it recovers'),
      h('div', { class: 'field field-inline' }, h('label', { for: callsId }, 'Number of calls'), calls),
      option('reachable', 'Reachable')),
    h('div', { class: 'form-buttons' }, h('button', { type: 'submit', class: 'button button-primary' }, 'Set reachability')),
    result);
  onSubmit(form, async () => {
    clearNotice(result);
    const mode = form.querySelector(`input[name="${name}"]:checked`).value;
    const body = mode === 'unreachable_for_calls' ? { mode, remaining: Number(calls.value) } : { mode };
    const keystore = keystores.find((k) => k.id === keystoreSelect.value);
    try {
      await control('PUT', `/keystores/${encodeURIComponent(keystoreSelect.value)}/reachability`, { body });
      const words = { unreachable: 'is now unreachable', reachable: 'is reachable again', unreachable_for_calls: `fails the next ${body.remaining} calls` };
      showNotice(result, {
        kind: 'success', title: `${keystore?.name || 'The keystore'} ${words[mode]}.`,
        message: mode === 'reachable' ? null : 'Its keys show status “error” (connection error) while it cannot be reached, and its health “Not responding”.',
      });
    } catch (error) {
      showError(result, error, { action: 'Setting reachability' });
    }
  });
  return section('Keystore reachability', form);
}

function clockPanel(ctx) {
  const now = h('output', { class: 'clock-now' }, '…');
  const amount = h('input', { type: 'number', name: 'amount', min: '1', value: '4', inputmode: 'numeric', required: true });
  const unit = select('unit', [['1', 'seconds'], ['60', 'minutes'], ['3600', 'hours'], ['86400', 'days']], '3600');
  const result = resultArea();
  const refresh = async () => {
    try {
      const { body } = await control('GET', '/clock');
      if (!ctx.signal.aborted) now.textContent = formatTime(body.now);
    } catch (error) {
      now.textContent = 'unknown';
      showError(result, error, { action: 'Reading the clock' });
    }
  };
  const advance = async (seconds) => {
    clearNotice(result);
    try {
      const { body } = await control('POST', '/clock/advance', { body: { seconds } });
      now.textContent = formatTime(body.now);
      showNotice(result, { kind: 'success', title: `Clock advanced by ${describeSeconds(seconds)}: now ${formatTime(body.now)}.` });
    } catch (error) {
      showError(result, error, { action: 'Advancing the clock' });
    }
  };
  const form = h('form', { class: 'form form-row', 'aria-label': 'Advance the clock' },
    field({ label: 'Advance by', control: amount }),
    field({ label: 'Unit', control: unit }),
    h('div', { class: 'form-buttons' }, h('button', { type: 'submit', class: 'button button-primary' }, 'Advance')));
  onSubmit(form, () => advance(Number(amount.value) * Number(unit.value)));
  const quick = h('div', { class: 'quick-buttons', role: 'group', 'aria-label': 'Quick advance' },
    [['+1 hour', 3600], ['+4 hours', 14400], ['+1 day', 86400], ['+7 days', 604800], ['+30 days', 2592000]]
      .map(([label, seconds]) => h('button', { type: 'button', class: 'button button-ghost', onclick: () => advance(seconds) }, label)));
  refresh();
  return section('Virtual clock',
    h('p', {}, 'Instance time: ', now),
    h('p', { class: 'hint' }, 'Time-based rules follow this clock: destroy 4 hours after deactivation, pending destruction periods, unreachable-until windows.'),
    form, quick, result);
}

function describeSeconds(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} day${seconds === 86400 ? '' : 's'}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`;
  if (seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? '' : 's'}`;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

function statePanel() {
  const result = resultArea();
  const file = h('input', { type: 'file', name: 'fixture', accept: '.json,application/json' });
  const modeName = uid('mode');
  const mode = (value, label, checked) => {
    const id = uid('mode-choice');
    return h('div', { class: 'choice' }, h('input', { type: 'radio', name: modeName, id, value, checked: checked || undefined }), h('label', { for: id }, label));
  };
  const load = h('form', { class: 'form', 'aria-label': 'Load a fixture' },
    field({ label: 'Fixture file (JSON)', control: file, hint: 'A scenario file as described in fixtures/README.md, or an export.' }),
    h('fieldset', { class: 'choices' }, h('legend', {}, 'How to load it'),
      mode('replace', 'Replace the instance with the fixture', true),
      mode('merge', 'Merge: add or overwrite records by id')),
    h('div', { class: 'form-buttons' }, h('button', { type: 'submit', class: 'button button-primary' }, 'Load fixture')));
  onSubmit(load, async () => {
    clearNotice(result);
    const chosen = file.files?.[0];
    if (!chosen) {
      showNotice(result, { kind: 'error', title: 'Choose a fixture file first.' });
      file.focus();
      return;
    }
    const text = await chosen.text();
    const how = load.querySelector(`input[name="${modeName}"]:checked`).value;
    try {
      const { body } = await control('POST', '/fixture', { query: { mode: how }, rawBody: text });
      showNotice(result, { kind: 'success', title: `Fixture ${chosen.name} loaded (${how}).`, message: summarize(body) });
    } catch (error) {
      showError(result, error, { action: 'Loading the fixture' });
    }
  });
  const exportButton = h('button', { type: 'button', class: 'button button-secondary' }, 'Export as fixture');
  exportButton.addEventListener('click', async () => {
    clearNotice(result);
    try {
      const { body } = await control('GET', '/export');
      const blob = new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: 'uko-mock-export.json', class: 'button button-secondary' }, 'Download uko-mock-export.json');
      showNotice(result, { kind: 'success', title: 'The instance was exported.', message: 'Save the file, then load it here later to get the same state back.' });
      result.querySelector('.notice').append(link);
      link.click();
    } catch (error) {
      showError(result, error, { action: 'Exporting' });
    }
  });
  const resetButton = h('button', { type: 'button', class: 'button button-danger' }, 'Reset instance…');
  resetButton.addEventListener('click', async () => {
    clearNotice(result);
    const confirmed = await confirmAction({
      title: 'Reset the instance?',
      body: h('p', {}, 'All keys, keystores, fault rules and the clock go back to the fixture the mock was started with, and the journal starts empty: a reset is a fresh instance. Changes made since are lost.'),
      confirmLabel: 'Reset',
      danger: true,
    });
    if (!confirmed) return;
    try {
      const { body } = await control('POST', '/reset');
      showNotice(result, { kind: 'success', title: 'The instance was reset to the served fixture.', message: summarize(body) });
      announce('Instance reset.');
    } catch (error) {
      showError(result, error, { action: 'Reset' });
    }
  });
  return section('Instance state',
    h('div', { class: 'button-row' }, resetButton, exportButton),
    load, result);
}

function summarize(body) {
  if (!body || typeof body !== 'object') return null;
  const parts = ['vaults', 'templates', 'keystores', 'managed_keys', 'fault_rules']
    .filter((name) => typeof body[name] === 'number').map((name) => `${body[name]} ${humanize(name).toLowerCase()}`);
  return parts.length ? `Now: ${parts.join(', ')}.` : null;
}

function faultsPanel(keys, keystores) {
  const list = h('div');
  const result = resultArea();
  const refresh = async () => {
    try {
      const { body } = await control('GET', '/faults');
      renderRules(body.rules || []);
    } catch (error) {
      replace(list);
      showError(result, error, { action: 'Listing fault rules' });
    }
  };
  const renderRules = (rules) => {
    replace(list, table({
      caption: 'Fault rules',
      className: 'faults-table',
      columns: [{ label: 'Rule' }, { label: 'Operation' }, { label: 'Resource' }, { label: 'Trigger' }, { label: 'Effect' },
        { label: 'Matched', className: 'num' }, { label: 'Fired', className: 'num' }, { label: 'Remove' }],
      rows: rules.map((rule) => [
        { header: true, content: code(rule.id) },
        rule.operation || 'any',
        rule.resource_id ? code(rule.resource_id) : 'any',
        describeTrigger(rule.trigger),
        describeEffect(rule.effect, keys, keystores),
        String(rule.matched ?? 0),
        String(rule.fired ?? 0),
        h('button', {
          type: 'button', class: 'button button-ghost button-small', 'aria-label': `Remove rule ${rule.id}`,
          onclick: async () => {
            clearNotice(result);
            try {
              await control('DELETE', `/faults/${encodeURIComponent(rule.id)}`);
              showNotice(result, { kind: 'success', title: `Rule ${rule.id} removed.` });
              await refresh();
              // The button is gone with its row: focus the section's heading instead.
              const heading = list.closest('section')?.querySelector('h2');
              heading?.setAttribute('tabindex', '-1');
              heading?.focus();
            } catch (error) {
              showError(result, error, { action: 'Removing the rule' });
            }
          },
        }, 'Remove'),
      ]),
      empty: 'No fault rule: every request is served normally.',
    }));
  };

  const operation = select('operation', [['', 'Any operation'], ...OPERATIONS.map((o) => [o, o])], 'SyncManagedKey');
  const resource = h('input', { type: 'text', name: 'resource_id', autocomplete: 'off', spellcheck: 'false', placeholder: 'any' });
  const trigger = select('trigger', [['next_n', 'The next N matching requests'], ['always', 'Every matching request'],
    ['after_n', 'Every matching request after the first N'], ['probability', 'Each matching request with probability p']], 'next_n');
  const count = h('input', { type: 'number', name: 'count', min: '0', value: '1', inputmode: 'numeric' });
  const probability = h('input', { type: 'number', name: 'probability', min: '0', max: '1', step: '0.05', value: '0.5' });
  const effect = select('effect', [['http_error', 'Answer with an HTTP error'], ['latency', 'Add latency'],
    ['drop_connection', 'Drop the connection'], ['keystore_failure', 'A keystore fails its part'],
    ['concurrent_writer', 'Another writer changes the key (stale ETag)']], 'http_error');
  const status = select('status', [['503', '503 Service Unavailable'], ['500', '500 Internal Server Error'],
    ['429', '429 Too Many Requests'], ['502', '502 Bad Gateway'], ['504', '504 Gateway Timeout'], ['409', '409 Conflict']], '503');
  const message = h('input', { type: 'text', name: 'message', autocomplete: 'off', placeholder: 'default message' });
  const millis = h('input', { type: 'number', name: 'millis', min: '0', value: '2000', inputmode: 'numeric' });
  const keystore = select('keystore_id', keystores.map((k) => [k.id, k.name]));
  const key = select('managed_key_id', keys.map((k) => [k.id, k.label]));
  const countField = field({ label: 'N', control: count });
  const probabilityField = field({ label: 'Probability p (0–1)', control: probability });
  const statusField = field({ label: 'Status', control: status });
  const messageField = field({ label: 'Message (optional)', control: message });
  const millisField = field({ label: 'Latency (ms)', control: millis });
  const keystoreField = field({ label: 'Failing keystore', control: keystore });
  const keyField = field({ label: 'Managed key changed by the other writer', control: key });
  const sync = () => {
    countField.hidden = !['next_n', 'after_n'].includes(trigger.value);
    probabilityField.hidden = trigger.value !== 'probability';
    statusField.hidden = effect.value !== 'http_error';
    messageField.hidden = effect.value !== 'http_error';
    millisField.hidden = effect.value !== 'latency';
    keystoreField.hidden = effect.value !== 'keystore_failure';
    keyField.hidden = effect.value !== 'concurrent_writer';
  };
  trigger.addEventListener('change', sync);
  effect.addEventListener('change', sync);
  sync();
  const form = h('form', { class: 'form', 'aria-label': 'Add a fault rule' },
    h('div', { class: 'form-row' }, field({ label: 'Operation', control: operation }),
      field({ label: 'Resource id (optional)', control: resource, hint: 'The id in the request path; empty matches any.' })),
    h('div', { class: 'form-row' }, field({ label: 'When', control: trigger }), countField, probabilityField),
    h('div', { class: 'form-row' }, field({ label: 'Effect', control: effect }), statusField, messageField, millisField, keystoreField, keyField),
    h('div', { class: 'form-buttons' }, h('button', { type: 'submit', class: 'button button-primary' }, 'Add fault rule')));
  onSubmit(form, async () => {
    clearNotice(result);
    const rule = { trigger: { kind: trigger.value } };
    if (operation.value) rule.operation = operation.value;
    if (resource.value.trim()) rule.resource_id = resource.value.trim();
    if (['next_n', 'after_n'].includes(trigger.value)) rule.trigger.count = Number(count.value);
    if (trigger.value === 'probability') rule.trigger.probability = Number(probability.value);
    rule.effect = { kind: effect.value };
    if (effect.value === 'http_error') {
      rule.effect.status = Number(status.value);
      if (message.value.trim()) rule.effect.message = message.value.trim();
    }
    if (effect.value === 'latency') rule.effect.millis = Number(millis.value);
    if (effect.value === 'keystore_failure') rule.effect.keystore_id = keystore.value;
    if (effect.value === 'concurrent_writer') rule.effect.managed_key_id = key.value;
    try {
      const { body } = await control('POST', '/faults', { body: rule });
      showNotice(result, { kind: 'success', title: `Fault rule ${body?.id || ''} added.`.replace('  ', ' ') });
      await refresh();
    } catch (error) {
      showError(result, error, { action: 'Adding the fault rule' });
    }
  });
  const removeAll = h('button', { type: 'button', class: 'button button-ghost' }, 'Remove all rules');
  removeAll.addEventListener('click', async () => {
    clearNotice(result);
    try {
      await control('DELETE', '/faults');
      showNotice(result, { kind: 'success', title: 'All fault rules removed.' });
      await refresh();
    } catch (error) {
      showError(result, error, { action: 'Removing the rules' });
    }
  });
  refresh();
  return section('Fault rules',
    h('p', { class: 'hint' }, 'Rules match UKO operations and inject errors, latency, dropped connections, keystore failures or a concurrent writer.'),
    list, h('div', { class: 'button-row button-row-end' }, removeAll), h('h3', {}, 'Add a rule'), form, result);
}

function describeTrigger(trigger) {
  switch (trigger?.kind) {
    case 'always': return 'Always';
    case 'next_n': return `Next ${trigger.count}`;
    case 'after_n': return `After the first ${trigger.count}`;
    case 'probability': return `Probability ${trigger.probability}`;
    case 'window': return `From ${formatTime(trigger.from)} until ${formatTime(trigger.until)}`;
    default: return humanize(trigger?.kind || 'always');
  }
}

function describeEffect(effect, keys, keystores) {
  switch (effect?.kind) {
    case 'http_error': return `HTTP ${effect.status}${effect.message ? `: ${effect.message}` : ''}`;
    case 'latency': return `Latency ${effect.millis} ms${effect.jitter_millis ? ` ± ${effect.jitter_millis}` : ''}`;
    case 'drop_connection': return 'Drop the connection';
    case 'keystore_failure': return `Keystore fails: ${keystores.find((k) => k.id === effect.keystore_id)?.name || effect.keystore_id}`;
    case 'concurrent_writer': return `Concurrent writer on ${keys.find((k) => k.id === effect.managed_key_id)?.label || effect.managed_key_id}`;
    default: return humanize(effect?.kind);
  }
}
