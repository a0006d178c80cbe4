// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML.

/** Creates an element: `h('a', {href: '#/x', class: 'link'}, 'text', child)`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/** Appends children (nodes, strings, numbers, nested arrays; null and false are skipped). */
export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

let idCounter = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** `2026-01-01T09:00:00.000Z` → `2026-01-01 09:00:00 UTC`. */
export function formatTime(value) {
  if (!value) return '—';
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(value);
  return match ? `${match[1]} ${match[2]} UTC` : value;
}

const STATE_LABELS = {
  pre_activation: 'Pre-active',
  active: 'Active',
  deactivated: 'Deactivated',
  destroyed: 'Destroyed',
  compromised: 'Compromised',
  destroyed_compromised: 'Destroyed (compromised)',
};

/** A managed key state as the UKO UI names it. */
export function stateLabel(state) { return STATE_LABELS[state] || humanize(state); }

/** A key state badge. */
export function stateBadge(state) {
  return h('span', { class: `badge badge-state badge-state-${state}` }, stateLabel(state));
}

/** `active_key_is_not_active_in_keystore` → `Active key is not active in keystore`. */
export function humanize(code) {
  if (!code) return '';
  const text = String(code).replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// What an out-of-sync entry means, in words: UKO's detail codes name the key's side only
// (`active_key_is_not_active_in_keystore` covers missing, inactive and wrong key alike), so the entry's
// `status` tells which divergence it is.
const DIVERGENCE_BY_STATUS = {
  not_present: 'Missing in the keystore',
  not_active: 'Present but inactive in the keystore',
  wrong_key: 'Wrong key: the keystore holds other key material under this key’s id',
  active: 'Still active in the keystore',
  pending_destruction: 'Pending destruction in the keystore',
  error: 'Keystore could not be checked',
};

/** A status-in-keystore entry's sync detail in plain words (the divergence when out of sync). */
export function describeEntry(entry) {
  if (!entry) return '';
  const detail = entry.keystore_sync_flag_detail;
  if (detail === 'target_keystore_removed_by_user' || detail === 'target_keystore_removed_by_user_contains_an_active_key') {
    return humanize(detail);
  }
  if (entry.keystore_sync_flag === 'out_of_sync' || entry.keystore_sync_flag === 'error') {
    return DIVERGENCE_BY_STATUS[entry.status] || humanize(detail);
  }
  return humanize(detail);
}

const KEYSTORE_TYPES = {
  ibm_cloud_kms: 'IBM Cloud KMS',
  aws_kms: 'AWS KMS',
  azure_key_vault: 'Azure Key Vault',
  google_kms: 'Google Cloud KMS',
  ibm_cloud_key_protect: 'IBM Key Protect',
  cca: 'CCA',
};

/** A keystore type's display name. */
export function keystoreTypeLabel(type) { return KEYSTORE_TYPES[type] || humanize(type); }

/**
 * The sync verdict for a key from its `status_in_keystores`: out of sync as soon as one keystore says so,
 * as the UKO UI flags it in the Managed keys list.
 */
export function syncSummary(entries) {
  const list = entries || [];
  const count = (flag) => list.filter((entry) => entry.keystore_sync_flag === flag).length;
  if (list.length === 0) return { kind: 'none', label: 'No keystores' };
  const outOfSync = count('out_of_sync');
  if (outOfSync) return { kind: 'out-of-sync', label: 'Out of sync', count: outOfSync };
  if (count('error')) return { kind: 'error', label: 'Keystore error', count: count('error') };
  if (count('verifying_sync')) return { kind: 'verifying', label: 'Verifying sync' };
  return { kind: 'in-sync', label: 'In sync' };
}

/** The flag badge for a sync verdict (icon hidden from screen readers; the text says it all). */
export function syncBadge(summary) {
  const icons = { 'out-of-sync': '⚠', error: '✖', 'in-sync': '✓', verifying: '…', none: '–' };
  return h('span', { class: `badge flag flag-${summary.kind}` },
    h('span', { class: 'flag-icon', 'aria-hidden': 'true' }, icons[summary.kind] || ''), summary.label);
}

/** The badge for one keystore entry's `keystore_sync_flag`. */
export function entryFlagBadge(flag) {
  const kinds = { ok: 'in-sync', out_of_sync: 'out-of-sync', error: 'error', verifying_sync: 'verifying' };
  const labels = { ok: 'In sync', out_of_sync: 'Out of sync', error: 'Error', verifying_sync: 'Verifying sync' };
  return syncBadge({ kind: kinds[flag] || 'none', label: labels[flag] || humanize(flag) });
}

/** The path and query of a UKO `href`, relative to the API base (`/managed_keys?limit=20`). */
export function hrefQuery(href) {
  return new URL(href, location.href).searchParams;
}
