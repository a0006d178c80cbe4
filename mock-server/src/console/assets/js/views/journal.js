// The live journal: polls GET /__mock/v1/journal?since=<next_seq> and lists the UKO requests the instance
// served — the console's own and any other client's — newest first.

import { h, replace, formatTime } from '../dom.js';
import { control } from '../api.js';
import { showError, clearNotice, field, code } from '../ui.js';

const POLL_MILLIS = 1000;
const KEEP = 500;

export async function render(main, ctx) {
  ctx.setTitle('Journal');
  const notices = h('div', { class: 'notices' });
  const entries = [];
  let maxSeen = 0;
  let nextSeq = 0;
  let lastPoll = null;
  let paused = false;
  let timer = null;

  const pause = h('button', { type: 'button', class: 'button button-secondary', 'aria-pressed': 'false' }, 'Pause');
  const clear = h('button', { type: 'button', class: 'button button-ghost' }, 'Clear view');
  const filter = h('input', { type: 'search', name: 'filter', autocomplete: 'off', placeholder: 'e.g. sync_status or POST' });
  const conditionalOnly = h('input', { type: 'checkbox', name: 'conditional', id: 'journal-conditional' });
  const errorsOnly = h('input', { type: 'checkbox', name: 'errors', id: 'journal-errors' });
  const summary = h('p', { class: 'results-summary' }, 'Waiting for the first poll…');
  const body = h('tbody');
  replace(main,
    h('div', { class: 'page-header' }, h('h1', {}, 'Journal'),
      h('p', { class: 'lead' }, 'Every request the UKO API of this instance served, as ', code('GET /__mock/v1/journal'),
        ' records it: method, path, the If-Match the client sent, the status and the ETag it got. No bodies, no credentials.')),
    notices,
    h('div', { class: 'journal-controls' },
      field({ label: 'Filter (method, path, operation, status)', control: filter }),
      h('div', { class: 'checkbox' }, conditionalOnly, h('label', { for: 'journal-conditional' }, 'Only requests with If-Match')),
      h('div', { class: 'checkbox' }, errorsOnly, h('label', { for: 'journal-errors' }, 'Only errors (status ≥ 400)')),
      h('div', { class: 'button-row' }, pause, clear)),
    summary,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'table journal-table' },
        h('caption', { class: 'visually-hidden' }, 'Served requests, newest first'),
        h('thead', {}, h('tr', {}, ['Seq', 'Received (since start)', 'Method', 'Path and operation', 'If-Match', 'Status', 'ETag', 'Fault']
          .map((label) => h('th', { scope: 'col' }, label)))),
        body)));

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) poll();
  });
  clear.addEventListener('click', () => {
    entries.length = 0;
    draw();
  });
  // Through a closure: an event listener is called with the Event, which draw must not take for a poll time.
  for (const control_ of [filter, conditionalOnly, errorsOnly]) control_.addEventListener('input', () => draw());
  ctx.signal.addEventListener('abort', () => clearTimeout(timer));

  await poll();

  async function poll() {
    clearTimeout(timer);
    if (ctx.signal.aborted || paused) return;
    if (document.hidden) {
      timer = setTimeout(poll, POLL_MILLIS);
      return;
    }
    try {
      // `since` is the `next_seq` of the previous answer (as the control plane documents it); entries are
      // also keyed on seq below, so none is ever shown twice.
      const { body: page } = await control('GET', '/journal', { query: { since: nextSeq } });
      if (ctx.signal.aborted) return;
      clearNotice(notices);
      // Keyed on seq, so an inclusive or exclusive `since` shows every entry exactly once.
      const fresh = (page.entries || []).filter((entry) => entry.seq > maxSeen);
      if (fresh.length) maxSeen = fresh[fresh.length - 1].seq;
      nextSeq = typeof page.next_seq === 'number' ? page.next_seq : maxSeen + 1;
      entries.push(...fresh);
      if (entries.length > KEEP) entries.splice(0, entries.length - KEEP);
      draw(new Date());
      timer = setTimeout(poll, POLL_MILLIS);
    } catch (error) {
      if (ctx.signal.aborted) return;
      showError(notices, error, { action: 'Reading the journal' });
      draw();
      // Keep trying, more slowly: the mock may be restarting.
      timer = setTimeout(poll, POLL_MILLIS * 5);
    }
  }

  function draw(polledAt) {
    if (polledAt instanceof Date) lastPoll = polledAt;
    const text = filter.value.trim().toLowerCase();
    const shown = entries.filter((entry) => {
      if (conditionalOnly.checked && !entry.if_match) return false;
      if (errorsOnly.checked && entry.status < 400) return false;
      if (!text) return true;
      return [entry.method, entry.path, entry.operation, String(entry.status), entry.if_match, entry.etag]
        .some((value) => value && String(value).toLowerCase().includes(text));
    }).reverse();
    replace(body, shown.length ? shown.map(row) : h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No request yet.')));
    replace(summary, `${shown.length} of ${entries.length} requests shown`,
      lastPoll ? ` · last poll ${lastPoll.toLocaleTimeString()}` : '', paused ? ' · paused' : '');
  }
}

function row(entry) {
  const kind = entry.status === 0 ? 'dropped' : entry.status >= 500 ? 'server-error' : entry.status >= 400 ? 'client-error' : 'ok';
  return h('tr', { class: `journal-row journal-${kind}${entry.if_match ? ' journal-conditional' : ''}`, dataset: { seq: entry.seq } },
    h('td', { class: 'num' }, String(entry.seq)),
    // Each row's own arrival (wall clock since the server started, to the millisecond); the instance's
    // virtual clock, which only moves on changes, is in the tooltip.
    h('td', { class: 'nowrap journal-received', title: `instance clock: ${formatTime(entry.time)}` }, receivedAt(entry)),
    h('td', { class: 'journal-method' }, entry.method),
    h('td', { class: 'journal-path' }, h('code', {}, entry.path),
      entry.operation ? h('span', { class: 'journal-operation' }, entry.operation) : null),
    h('td', { class: 'journal-if-match' }, entry.if_match ? h('code', {}, entry.if_match) : '—'),
    h('td', { class: 'journal-status' }, h('span', { class: `status status-${kind}` }, entry.status === 0 ? 'dropped' : String(entry.status))),
    h('td', { class: 'journal-etag' }, entry.etag ? h('code', {}, entry.etag) : '—'),
    h('td', {}, entry.fault || '—'));
}

// `received_ms` (wall-clock milliseconds since the server started serving) as seconds, to the millisecond.
function receivedAt(entry) {
  if (typeof entry.received_ms !== 'number') return '—';
  return `${(entry.received_ms / 1000).toFixed(3)} s`;
}
