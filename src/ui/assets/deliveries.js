// One webhook's delivery log: filters, pages, each delivery's attempts (request and
// response), Retry / Replay, and Retry failed in range. Times are the browser's.

import { api, ApiError } from './api.js';
import { h, busy, fmtDuration, fmtTime, keepFocus, prettyBody, reasonPhrase, subscriptionMatches, timeEl, timeZoneName, uid } from './dom.js';
import { statusBadge } from './webhooks.js';

const PAGE_SIZE = 25;
const STATUS = {
  pending: { label: 'Pending', tone: 'wait' },
  retrying: { label: 'Retrying', tone: 'warn' },
  success: { label: 'Success', tone: 'ok' },
  failed: { label: 'Failed', tone: 'bad' },
};

export function deliveriesView(ctx, root, id) {
  const base = `/webhooks/${encodeURIComponent(id)}`;
  let destroyed = false;
  let webhook = null;
  let page = null; // { data, next_cursor }
  let cursors = [null]; // cursor of each page seen; the last is the current page's
  const expanded = new Set();
  let refreshTimer = null;
  let watchUntil = 0;

  const lead = h('p', { class: 'lead', text: 'Loading…' });
  const meta = h('div', { class: 'meta-line' });
  const headActions = h('div', { class: 'row-actions' });
  const head = h('div', { class: 'page-head' }, h('div', {}, h('h1', { tabindex: '-1' }, 'Deliveries'), lead, meta), headActions);
  const card = h('div', { class: 'card table-card' });
  root.append(h('a', { class: 'back', href: '#/' }, h('span', { 'aria-hidden': 'true' }, '←'), 'All webhooks'), head, card);

  // --- filters
  const statusSel = h('select', { name: 'status' },
    h('option', { value: '', text: 'All statuses' }),
    ...Object.entries(STATUS).map(([v, s]) => h('option', { value: v, text: s.label })));
  const typeSel = h('select', { name: 'event_type' }, h('option', { value: '', text: 'All event types' }));
  const from = h('input', { type: 'datetime-local', name: 'from', step: '1' });
  const to = h('input', { type: 'datetime-local', name: 'to', step: '1' });
  const filterField = (label, input) => {
    input.id = uid('filter');
    return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
  };
  const filters = h('form', { class: 'filters', onsubmit: (ev) => ev.preventDefault(), 'aria-label': 'Filters' },
    filterField('Status', statusSel),
    filterField('Event type', typeSel),
    filterField('From', from),
    filterField('To', to));
  for (const el of [statusSel, typeSel, from, to]) el.addEventListener('change', () => firstPage());

  const rangeButton = h('button', { type: 'button', class: 'btn small', onclick: (ev) => retryRange(ev.currentTarget) }, 'Retry failed in range');
  const refreshButton = h('button', { type: 'button', class: 'btn small ghost', onclick: () => load({ quiet: false }) }, 'Refresh');
  const statusLine = h('p', { class: 'status-line', role: 'status' });
  const problem = h('p', { class: 'alert block', role: 'alert', hidden: true });
  const toolbar = h('div', { class: 'toolbar' }, rangeButton, refreshButton, h('span', { class: 'spacer' }), statusLine);
  const tableArea = h('div', { 'aria-busy': 'true' }, skeleton());
  const prev = h('button', { type: 'button', class: 'btn small', disabled: true, onclick: () => { cursors.pop(); load({ quiet: false }); } }, 'Previous');
  const next = h('button', { type: 'button', class: 'btn small', disabled: true, onclick: () => { if (page && page.next_cursor) { cursors.push(page.next_cursor); load({ quiet: false }); } } }, 'Next');
  const pageLabel = h('span', { class: 'num' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, pageLabel, h('div', { class: 'row-actions' }, prev, next));
  card.append(filters, toolbar, h('div', { class: 'problem-wrap' }, problem), tableArea, pager);

  function showProblem(message) {
    problem.textContent = message;
    problem.hidden = !message;
  }

  function query() {
    const q = new URLSearchParams();
    q.set('limit', String(PAGE_SIZE));
    if (statusSel.value) q.set('status', statusSel.value);
    if (typeSel.value) q.set('event_type', typeSel.value);
    const since = isoOf(from.value);
    const until = isoOf(to.value);
    if (since) q.set('since', since);
    if (until) q.set('until', until);
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.set('cursor', cursor);
    return q.toString();
  }

  function firstPage() {
    cursors = [null];
    expanded.clear();
    load({ quiet: false });
  }

  let loadSeq = 0;
  async function load({ quiet }) {
    const seq = ++loadSeq;
    if (!quiet) {
      tableArea.setAttribute('aria-busy', 'true');
      tableArea.replaceChildren(skeleton());
      prev.disabled = true;
      next.disabled = true;
    }
    try {
      const fresh = await api('GET', `${base}/deliveries?${query()}`);
      if (destroyed || seq !== loadSeq) return;
      const changed = !page || JSON.stringify(fresh) !== JSON.stringify(page);
      page = fresh;
      showProblem('');
      if (changed || !quiet) render();
    } catch (e) {
      if (destroyed || seq !== loadSeq) return;
      if (!quiet) {
        tableArea.replaceChildren();
        page = null;
      }
      showProblem(e instanceof ApiError && e.status === 404 ? 'This webhook no longer exists.' : e.message);
    } finally {
      if (seq === loadSeq) tableArea.removeAttribute('aria-busy');
      pagerState();
    }
  }

  function pagerState() {
    prev.disabled = cursors.length <= 1;
    next.disabled = !(page && page.next_cursor);
    pageLabel.textContent = `Page ${cursors.length}`;
  }

  function render() {
    keepFocus(() => {
      if (!page.data.length) {
        const filtered = statusSel.value || typeSel.value || from.value || to.value;
        tableArea.replaceChildren(
          h('div', { class: 'empty' },
            h('h2', { text: filtered ? 'No deliveries match these filters' : 'No deliveries yet' }),
            h('p', { text: filtered
              ? 'Try another status, event type or time range.'
              : 'Each event this webhook listens to shows up here as soon as it happens, with every attempt and the answer of your endpoint. (Send test is not logged here.)' })),
        );
        return;
      }
      const rows = [];
      for (const d of page.data) {
        const detailId = `detail-${d.id}`;
        rows.push(row(d, detailId));
        if (expanded.has(d.id)) rows.push(h('tr', { class: 'panel-row', id: detailId }, h('td', { colspan: '6' }, detail(d))));
      }
      tableArea.replaceChildren(
        h('table', { class: 'stack deliveries' },
          h('caption', { class: 'sr-only', text: `Deliveries, newest first; times in ${timeZoneName()}` }),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Time'),
            h('th', { scope: 'col' }, 'Event'),
            h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col' }, 'HTTP'),
            h('th', { scope: 'col' }, 'Duration'),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
          h('tbody', {}, rows)),
      );
    });
  }

  function lastAttempt(d) {
    return d.attempts && d.attempts.length ? d.attempts[d.attempts.length - 1] : null;
  }

  function row(d, detailId) {
    const a = lastAttempt(d);
    const open = expanded.has(d.id);
    const toggle = () => {
      if (expanded.has(d.id)) expanded.delete(d.id);
      else expanded.add(d.id);
      render();
    };
    const timeButton = h('button', { type: 'button', class: 'time-btn', 'aria-expanded': open ? 'true' : 'false', 'aria-controls': open ? detailId : undefined, 'data-focus': `time-${d.id}`, onclick: (ev) => { ev.stopPropagation(); toggle(); } },
      h('span', { class: 'caret', 'aria-hidden': 'true' }, '▶'), fmtTime(d.created_at));
    const s = STATUS[d.status] || { label: d.status, tone: 'off' };
    const isTest = d.trigger === 'test';
    let action = null;
    if (isTest) {
      // A test send is never retried or replayed: Send test again from the list instead.
    } else if (d.status === 'failed' || d.status === 'retrying') {
      action = h('button', { type: 'button', class: 'btn small', 'data-focus': `act-${d.id}`, onclick: (ev) => { ev.stopPropagation(); retry(d, ev.currentTarget, 'Retry'); } }, 'Retry');
    } else if (d.status === 'success') {
      action = h('button', { type: 'button', class: 'btn small', 'data-focus': `act-${d.id}`, onclick: (ev) => { ev.stopPropagation(); retry(d, ev.currentTarget, 'Replay'); } }, 'Replay');
    }
    const httpText = a ? (a.status_code ? String(a.status_code) : 'No answer') : '—';
    return h('tr', { class: 'delivery', 'data-delivery-id': d.id, onclick: (ev) => { if (!ev.target.closest('button, a, pre')) toggle(); } },
      h('td', { 'data-label': 'Time' }, timeButton),
      h('td', { 'data-label': 'Event' }, h('span', { class: 'mono', text: d.event_type }),
        isTest ? h('span', { class: 'status-note' }, 'Test send') : null),
      h('td', { 'data-label': 'Status' },
        h('span', { class: `badge ${s.tone}` }, s.label),
        d.status === 'retrying' && d.next_attempt_at ? h('span', { class: 'status-note' }, 'Next try ', timeEl(d.next_attempt_at)) : null),
      h('td', { 'data-label': 'HTTP', class: 'num', title: a && a.error ? a.error : undefined }, httpText),
      h('td', { 'data-label': 'Duration', class: 'num' }, a ? fmtDuration(a.duration_ms) : '—'),
      h('td', { class: 'actions' }, action ? h('div', { class: 'row-actions' }, action) : null));
  }

  function detail(d) {
    const req = d.request;
    const attempts = [...(d.attempts || [])].reverse();
    return h('div', { class: 'detail' },
      h('dl', {},
        h('dt', {}, 'Delivery'), h('dd', { text: d.id }),
        h('dt', {}, 'Event'), h('dd', { text: `${d.event_id} (${d.event_type})` }),
        h('dt', {}, 'Created'), h('dd', {}, timeEl(d.created_at)),
        d.next_attempt_at ? [h('dt', {}, 'Next attempt'), h('dd', {}, timeEl(d.next_attempt_at))] : null),
      h('section', {},
        h('h3', { text: 'Request' }),
        req
          ? [
            headersList(req.headers || {}),
            h('p', { class: 'label section-title', text: 'Request body' }),
            h('pre', { class: 'body', tabindex: '0', text: prettyBody(req.body) || '(empty)' }),
          ]
          : h('p', { class: 'muted small', text: 'Not sent yet.' })),
      h('section', {},
        h('h3', { text: attempts.length ? `Attempts (${attempts.length})` : 'Attempts' }),
        attempts.length
          ? attempts.map((a) => h('div', { class: 'attempt' },
            h('div', { class: 'attempt-head' },
              h('strong', { text: `Attempt ${a.attempt}` }),
              a.status_code
                ? h('span', { class: `badge ${a.status_code >= 200 && a.status_code < 300 ? 'ok' : 'bad'}` }, `${a.status_code} ${reasonPhrase(a.status_code)}`.trim())
                : h('span', { class: 'badge bad' }, 'No answer'),
              h('span', { class: 'muted num', text: fmtDuration(a.duration_ms) }),
              h('span', { class: 'muted small' }, timeEl(a.attempted_at))),
            a.error ? h('p', { class: 'error-text', text: a.error }) : null,
            h('p', { class: 'label section-title', text: 'Response body' }),
            a.response_body
              ? h('pre', { class: 'body', tabindex: '0', text: prettyBody(a.response_body) })
              : h('p', { class: 'muted small', text: 'Empty.' })))
          : h('p', { class: 'muted small', text: 'No attempt yet.' })));
  }

  function headersList(headers) {
    const entries = Object.entries(headers);
    if (!entries.length) return null;
    return [h('p', { class: 'label section-title', text: 'Request headers' }), h('dl', {}, entries.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: Array.isArray(v) ? v.join(', ') : String(v) })]))];
  }

  async function retry(d, button, verb) {
    busy(button, true);
    try {
      await api('POST', `${base}/deliveries/${encodeURIComponent(d.id)}/retry`);
      ctx.toast(verb === 'Replay' ? 'Replayed: hookd sends this event again now.' : 'Retrying now.');
      watch();
      await load({ quiet: true });
    } catch (e) {
      busy(button, false);
      showProblem(e.message);
    }
  }

  async function retryRange(button) {
    busy(button, true);
    statusLine.textContent = '';
    const body = { status: 'failed' };
    const since = isoOf(from.value);
    const until = isoOf(to.value);
    if (since) body.since = since;
    if (until) body.until = until;
    try {
      const r = await api('POST', `${base}/replay`, body);
      const n = r.count || 0;
      const range = since || until ? 'in this range' : 'in the retention window';
      statusLine.textContent = n
        ? `${n} failed deliver${n === 1 ? 'y' : 'ies'} ${range} will be retried now.`
        : `No failed deliveries ${range}.`;
      showProblem('');
      if (n) watch();
      await load({ quiet: true });
    } catch (e) {
      showProblem(e.message);
    } finally {
      busy(button, false);
    }
  }

  // After a retry, follow the outcome closely for a while; otherwise refresh the first page
  // every few seconds so new deliveries appear by themselves.
  function watch() {
    watchUntil = Date.now() + 20000;
  }
  let ticks = 0;
  refreshTimer = setInterval(() => {
    ticks += 1;
    if (document.visibilityState !== 'visible' || tableArea.getAttribute('aria-busy') === 'true') return;
    const watching = Date.now() < watchUntil;
    if (watching || (cursors.length === 1 && ticks % 5 === 0)) load({ quiet: true });
  }, 1000);

  async function start() {
    try {
      const [w, catalog] = await Promise.all([api('GET', base), ctx.catalog()]);
      if (destroyed) return;
      webhook = w;
      const types = catalog.filter((et) => webhook.events.some((p) => subscriptionMatches(p, et.name))).map((et) => et.name).sort();
      typeSel.append(...types.map((t) => h('option', { value: t, text: t })));
      lead.replaceChildren(h('strong', { text: webhook.name }), ' · ', h('span', { class: 'url', text: webhook.url }));
      meta.replaceChildren(...statusBadge(webhook).filter(Boolean), h('span', { text: `Times are shown in ${timeZoneName()}.` }));
      headActions.replaceChildren(h('a', { class: 'btn', href: `#/webhooks/${encodeURIComponent(id)}/edit` }, 'Edit webhook'));
      document.title = `Deliveries · ${webhook.name} · hookd`;
      await load({ quiet: false });
    } catch (e) {
      if (destroyed) return;
      tableArea.removeAttribute('aria-busy');
      tableArea.replaceChildren();
      lead.textContent = '';
      showProblem(e instanceof ApiError && e.status === 404 ? 'This webhook no longer exists. It may have been deleted in another window.' : e.message);
    }
  }

  start();
  return {
    destroy() {
      destroyed = true;
      clearInterval(refreshTimer);
    },
  };
}

/** A datetime-local value (the browser's time zone) as RFC 3339 UTC; '' → null. */
function isoOf(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function skeleton() {
  return h('div', { 'aria-hidden': 'true' }, h('div', { class: 'skeleton-row' }), h('div', { class: 'skeleton-row' }), h('div', { class: 'skeleton-row' }));
}
