// Add or edit a webhook: endpoint, name, description, events grouped by catalog category,
// active; and under "Advanced" the method, custom headers, rate limit, timeout, retry
// schedule, order and payload format. The browser checks what it can (https, at least one
// event, numbers); the API's own error then appears next to the field it names.

import { api, ApiError } from './api.js';
import { h, busy, isPattern, subscriptionMatches, uid } from './dom.js';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ADVANCED_FIELDS = new Set(['method', 'headers', 'rate_limit_per_sec', 'timeout_secs', 'retry_schedule_secs', 'ordered', 'payload_format']);

export function formView(ctx, root, id) {
  const editing = Boolean(id);
  let destroyed = false;
  const title = editing ? 'Edit webhook' : 'Add webhook';
  const card = h('div', { class: 'card form', 'aria-busy': 'true' }, h('p', { class: 'loading-page' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading…'));
  root.append(
    h('a', { class: 'back', href: '#/' }, h('span', { 'aria-hidden': 'true' }, '←'), 'All webhooks'),
    h('div', { class: 'page-head' }, h('div', {}, h('h1', { tabindex: '-1' }, title), h('p', { class: 'lead', text: editing ? 'Changes apply to the next events; deliveries already made stay as they were.' : 'hookd will send a signed HTTPS request to this endpoint each time one of the chosen events happens.' }))),
    card,
  );

  Promise.all([ctx.catalog(), editing ? api('GET', `/webhooks/${encodeURIComponent(id)}`) : Promise.resolve(null)])
    .then(([catalog, webhook]) => {
      if (!destroyed) build(catalog, webhook);
    })
    .catch((e) => {
      if (destroyed) return;
      card.removeAttribute('aria-busy');
      card.replaceChildren(
        h('div', { class: 'empty' },
          h('h2', { text: e.status === 404 ? 'This webhook no longer exists' : 'The form could not be loaded' }),
          h('p', { role: 'alert', text: e.status === 404 ? 'It may have been deleted in another window.' : e.message }),
          h('p', {}, h('a', { class: 'btn section-title', href: '#/' }, 'Back to all webhooks'))),
      );
    });

  function build(catalog, w) {
    card.removeAttribute('aria-busy');
    const errors = new Map(); // API field name → { alert, focus: element, input?: element }

    const formAlert = h('div', { class: 'alert block', role: 'alert', tabindex: '-1', hidden: true });

    // A labelled field with its hint and its error (role="alert"), registered under `key`.
    function field(key, label, input, { hint, optional } = {}) {
      const inputId = input.id || uid(`f-${key}`);
      input.id = inputId;
      const hintEl = hint ? h('p', { class: 'hint', id: uid(`${key}-hint`), text: hint }) : null;
      const alert = h('p', { class: 'alert', role: 'alert', id: uid(`${key}-error`), hidden: true });
      if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
      errors.set(key, { alert, focus: input, input, hintId: hintEl && hintEl.id });
      const hintText = hint && optional ? `Optional. ${hint}` : hint;
      if (hintEl) hintEl.textContent = hintText;
      return h('div', { class: 'field' }, h('label', { for: inputId }, label), input, hintEl, alert);
    }

    // --- basics
    const url = h('input', { type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://crm.example.com/hooks', value: w ? w.url : '' });
    const name = h('input', { type: 'text', autocomplete: 'off', maxlength: '200', placeholder: 'CRM sync', value: w ? w.name : '' });
    const description = h('textarea', { rows: '2', maxlength: '2000' });
    description.value = w ? w.description || '' : '';

    // --- events, one fieldset per category
    const selected = new Set(w ? w.events : []);
    const byCategory = new Map();
    for (const et of [...catalog].sort((a, b) => a.name.localeCompare(b.name))) {
      const cat = et.category || 'Other';
      if (!byCategory.has(cat)) byCategory.set(cat, []);
      byCategory.get(cat).push(et);
    }
    const categories = [...byCategory.keys()].sort((a, b) => (a === 'hookd') - (b === 'hookd') || a.localeCompare(b));
    const eventBoxes = [];
    const fieldsets = categories.map((cat) => {
      const boxes = byCategory.get(cat).map((et) => {
        const boxId = uid('ev');
        const descId = et.description ? uid('ev-desc') : null;
        const box = h('input', { type: 'checkbox', id: boxId, value: et.name, checked: selected.has(et.name), 'aria-describedby': descId || undefined });
        eventBoxes.push(box);
        return { box, el: h('div', { class: 'event' }, box, h('label', { for: boxId, text: et.name }), descId ? h('span', { class: 'hint', id: descId, text: et.description }) : null) };
      });
      const allId = uid('all');
      const all = h('input', { type: 'checkbox', id: allId });
      const sync = () => {
        const n = boxes.filter((b) => b.box.checked).length;
        all.checked = n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      };
      all.addEventListener('change', () => {
        for (const b of boxes) b.box.checked = all.checked;
        sync();
      });
      for (const b of boxes) b.box.addEventListener('change', sync);
      sync();
      return h('fieldset', {}, h('legend', { text: cat }), h('div', { class: 'select-all' }, all, h('label', { for: allId }, 'Select all')), boxes.map((b) => b.el));
    });
    // Subscriptions the checkboxes cannot show: wildcards, and names no longer in the catalog.
    const others = w ? w.events.filter((e) => isPattern(e) || !catalog.some((et) => et.name === e)) : [];
    const otherBoxes = others.map((e) => {
      const boxId = uid('ev');
      const box = h('input', { type: 'checkbox', id: boxId, value: e, checked: true });
      const covers = catalog.filter((et) => subscriptionMatches(e, et.name)).length;
      const note = isPattern(e)
        ? `${e === '*' ? 'Every event type' : `Every ${e.slice(0, -2)} event type`}, including ones added later (${covers} today)`
        : 'No longer in the catalog';
      return { box, el: h('div', { class: 'event' }, box, h('label', { for: boxId, text: e }), h('span', { class: 'hint', text: note })) };
    });
    if (otherBoxes.length) {
      fieldsets.push(h('fieldset', {}, h('legend', { text: 'Other subscriptions' }), otherBoxes.map((b) => b.el)));
    }
    const eventsLabelId = uid('events-label');
    const eventsAlert = h('p', { class: 'alert', role: 'alert', id: uid('events-error'), hidden: true });
    errors.set('events', { alert: eventsAlert, focus: eventBoxes[0] || (otherBoxes[0] && otherBoxes[0].box) });
    const eventsGroup = h(
      'div',
      { class: 'field', role: 'group', 'aria-labelledby': eventsLabelId },
      h('p', { class: 'label', id: eventsLabelId, text: 'Events' }),
      h('p', { class: 'hint', text: 'Choose what this endpoint receives. Send test uses the sample of the first chosen event.' }),
      catalog.length ? h('div', { class: 'events-grid' }, fieldsets) : h('p', { class: 'muted', text: 'The event catalog is empty: ask the operator to add event types.' }),
      eventsAlert,
    );

    // --- active
    const activeId = uid('active');
    const active = h('input', { type: 'checkbox', id: activeId, checked: w ? w.status !== 'disabled' : true, 'aria-describedby': `${activeId}-hint` });
    const activeAlert = h('p', { class: 'alert', role: 'alert', hidden: true });
    errors.set('status', { alert: activeAlert, focus: active });
    const activeField = h(
      'div',
      { class: 'field' },
      h('div', { class: 'check' }, active, h('div', {}, h('label', { for: activeId }, 'Active'), h('p', { class: 'hint', id: `${activeId}-hint`, text: 'When off, hookd sends nothing to this endpoint; events that happen meanwhile can be replayed later.' }))),
      activeAlert,
    );

    // --- advanced
    const method = h('select', {}, h('option', { value: 'POST', text: 'POST' }), h('option', { value: 'PUT', text: 'PUT' }));
    method.value = w ? w.method : 'POST';
    const payload = h('select', {}, h('option', { value: 'envelope', text: 'Envelope: id, type, created and data.object' }), h('option', { value: 'data', text: 'Event data only' }));
    payload.value = w ? w.payload_format : 'envelope';
    const rate = h('input', { type: 'number', min: '1', step: '1', inputmode: 'numeric', value: w ? String(w.rate_limit_per_sec) : '' });
    const timeout = h('input', { type: 'number', min: '1', max: '300', step: 'any', inputmode: 'decimal', value: w ? String(w.timeout_secs) : '' });
    const schedule = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '60, 300, 1800, 7200, 86400', value: w ? (w.retry_schedule_secs.length ? w.retry_schedule_secs.join(', ') : 'none') : '' });
    const orderedId = uid('ordered');
    const ordered = h('input', { type: 'checkbox', id: orderedId, checked: w ? w.ordered : false, 'aria-describedby': `${orderedId}-hint` });
    const verifyId = uid('verify');
    const verify = h('input', { type: 'checkbox', id: verifyId, checked: true, 'aria-describedby': `${verifyId}-hint` });

    const headerRows = h('div', { class: 'header-rows' });
    let headerCount = 0;
    function addHeaderRow(k = '', v = '') {
      headerCount += 1;
      const n = headerCount;
      const kIn = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'X-Api-Key', value: k, 'aria-label': `Header ${n}` });
      const vIn = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'value', value: v, 'aria-label': `Value ${n}` });
      const rowEl = h('div', { class: 'header-row' }, kIn, vIn, h('button', { type: 'button', class: 'btn small ghost', onclick: () => { rowEl.remove(); }, 'aria-label': `Remove row ${n}` }, 'Remove'));
      headerRows.append(rowEl);
      return kIn;
    }
    for (const [k, v] of Object.entries(w ? w.headers || {} : {})) addHeaderRow(k, v);
    const headersAlert = h('p', { class: 'alert', role: 'alert', hidden: true });
    const headersLabelId = uid('headers-label');
    const addHeader = h('button', { type: 'button', class: 'btn small', onclick: () => addHeaderRow().focus() }, 'Add header');
    errors.set('headers', { alert: headersAlert, focus: addHeader });

    const advanced = h(
      'details',
      { class: 'advanced' },
      h('summary', {}, 'Advanced', h('span', { class: 'muted' }, 'method, headers, rate limit, order, retries')),
      h(
        'div',
        { class: 'advanced-body' },
        h('div', { class: 'two-col' },
          field('method', 'HTTP method', method),
          field('payload_format', 'Payload format', payload)),
        h('div', { class: 'field', role: 'group', 'aria-labelledby': headersLabelId },
          h('p', { class: 'label', id: headersLabelId, text: 'Custom headers' }),
          h('p', { class: 'hint', text: 'Sent with every request, e.g. a token your endpoint expects. They are hidden in the delivery log.' }),
          headerRows, addHeader, headersAlert),
        h('div', { class: 'two-col' },
          field('rate_limit_per_sec', 'Rate limit (requests per second)', rate, { hint: 'At most this many requests per second; more wait their turn. Empty: hookd’s default.' }),
          field('timeout_secs', 'Timeout (seconds)', timeout, { hint: 'How long hookd waits for an answer, at most 300. Empty: hookd’s default.' })),
        field('retry_schedule_secs', 'Retry schedule (seconds)', schedule, { hint: 'Delays before each retry after a failed attempt, separated by commas; “none” for no retries. Empty: hookd’s default.' }),
        h('div', { class: 'field' }, h('div', { class: 'check' }, ordered, h('div', {}, h('label', { for: orderedId }, 'Deliver in order'), h('p', { class: 'hint', id: `${orderedId}-hint`, text: 'One request at a time, in the order the events happened. Slower; use it when your endpoint depends on order.' })))),
        h('div', { class: 'field' }, h('div', { class: 'check' }, verify, h('div', {}, h('label', { for: verifyId }, 'Check that the endpoint answers before saving'), h('p', { class: 'hint', id: `${verifyId}-hint`, text: 'hookd connects to the URL’s host over TLS first. Turn this off to save an endpoint that is not online yet.' })))),
      ),
    );
    errors.set('ordered', { alert: h('p', { class: 'alert', role: 'alert', hidden: true }), focus: ordered });

    // --- submit
    const save = h('button', { type: 'submit', class: 'btn primary' }, 'Save');
    const progress = h('span', { class: 'muted small', role: 'status' });
    const form = h(
      'form',
      { novalidate: true, onsubmit: onSubmit },
      formAlert,
      field('url', 'Endpoint URL', url, { hint: ctx.allowHttp ? 'Where hookd sends events (https:// recommended; this server also allows http:// for testing).' : 'Where hookd sends events. It must start with https://.' }),
      h('div', { class: 'two-col' },
        field('name', 'Name', name, { optional: true, hint: 'How this webhook is listed, e.g. CRM sync. Empty: the URL’s host.' }),
        field('description', 'Description', description, { optional: true, hint: 'A note for your colleagues.' })),
      eventsGroup,
      activeField,
      advanced,
      h('div', { class: 'form-actions' }, save, h('a', { class: 'btn', href: '#/' }, 'Cancel'), progress),
    );
    card.replaceChildren(form);

    function clearErrors() {
      formAlert.hidden = true;
      formAlert.replaceChildren();
      for (const e of errors.values()) {
        e.alert.hidden = true;
        e.alert.replaceChildren();
        if (e.input) {
          e.input.removeAttribute('aria-invalid');
          if (e.hintId) e.input.setAttribute('aria-describedby', e.hintId);
          else e.input.removeAttribute('aria-describedby');
        }
      }
    }

    function showError(key, message, more) {
      const e = errors.get(key);
      if (!e) {
        formAlert.replaceChildren(message, more ? h('span', { class: 'more', text: more }) : '');
        formAlert.hidden = false;
        return formAlert;
      }
      e.alert.replaceChildren(message, more ? h('span', { class: 'more', text: more }) : '');
      e.alert.hidden = false;
      if (!e.alert.id) e.alert.id = uid(`${key}-error`);
      if (e.input) {
        e.input.setAttribute('aria-invalid', 'true');
        e.input.setAttribute('aria-describedby', [e.hintId, e.alert.id].filter(Boolean).join(' '));
      }
      if (ADVANCED_FIELDS.has(key)) advanced.open = true;
      return e.focus;
    }

    function checkInBrowser() {
      const problems = [];
      const u = url.value.trim();
      if (!u) {
        problems.push(['url', 'Enter the URL of the endpoint that should receive events.']);
      } else {
        let parsed = null;
        try {
          parsed = new URL(u);
        } catch {
          parsed = null;
        }
        if (!parsed || !parsed.hostname) {
          problems.push(['url', 'This is not a complete URL. It looks like https://crm.example.com/hooks.']);
        } else if (parsed.protocol === 'http:' && !ctx.allowHttp) {
          problems.push(['url', 'Use an https:// URL: hookd sends events over HTTPS only, so nobody can read them on the way.']);
        } else if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
          problems.push(['url', 'The URL must start with https://.']);
        } else if (parsed.username || parsed.password) {
          problems.push(['url', 'Leave the user name and password out of the URL; send credentials as a custom header (under Advanced).']);
        }
      }
      if (![...eventBoxes, ...otherBoxes.map((b) => b.box)].some((b) => b.checked)) {
        problems.push(['events', 'Choose at least one event.']);
      }
      if (rate.value.trim() && !/^[1-9][0-9]*$/.test(rate.value.trim())) {
        problems.push(['rate_limit_per_sec', 'Enter a whole number of requests per second, 1 or more.']);
      }
      const t = timeout.value.trim();
      if (t && !(Number(t) > 0 && Number(t) <= 300)) {
        problems.push(['timeout_secs', 'Enter a number of seconds above 0 and at most 300.']);
      }
      if (parseSchedule(schedule.value) === undefined) {
        problems.push(['retry_schedule_secs', 'Enter numbers of seconds separated by commas, e.g. 60, 300, 1800 — or “none”.']);
      }
      const seen = new Set();
      for (const r of headerRows.querySelectorAll('.header-row')) {
        const [k, v] = r.querySelectorAll('input');
        const key = k.value.trim();
        if (!key && !v.value.trim()) continue;
        if (!HEADER_NAME.test(key)) {
          problems.push(['headers', key ? `“${key}” is not a valid header name (letters, digits and - only).` : 'Give every header a name.']);
          break;
        }
        if (seen.has(key.toLowerCase())) {
          problems.push(['headers', `The header “${key}” is listed twice.`]);
          break;
        }
        seen.add(key.toLowerCase());
      }
      return problems;
    }

    function bodyFromForm() {
      const headers = {};
      for (const r of headerRows.querySelectorAll('.header-row')) {
        const [k, v] = r.querySelectorAll('input');
        if (k.value.trim()) headers[k.value.trim()] = v.value;
      }
      const events = [...eventBoxes, ...otherBoxes.map((b) => b.box)].filter((b) => b.checked).map((b) => b.value);
      const body = {
        url: url.value.trim(),
        name: name.value.trim(),
        description: description.value.trim(),
        events,
        status: active.checked ? 'active' : 'disabled',
        method: method.value,
        headers,
        ordered: ordered.checked,
        payload_format: payload.value,
        verify: verify.checked,
      };
      if (rate.value.trim()) body.rate_limit_per_sec = Number(rate.value.trim());
      if (timeout.value.trim()) body.timeout_secs = Number(timeout.value.trim());
      const s = parseSchedule(schedule.value);
      if (s !== null) body.retry_schedule_secs = s;
      return body;
    }

    async function onSubmit(ev) {
      ev.preventDefault();
      clearErrors();
      const problems = checkInBrowser();
      if (problems.length) {
        let first = null;
        for (const [key, message] of problems) {
          const target = showError(key, message);
          first = first || target;
        }
        if (first) first.focus();
        return;
      }
      busy(save, true);
      progress.textContent = verify.checked ? 'Checking the endpoint and saving…' : 'Saving…';
      try {
        const body = bodyFromForm();
        const saved = editing
          ? await api('PUT', `/webhooks/${encodeURIComponent(id)}`, body)
          : await api('POST', '/webhooks', body);
        if (destroyed) return;
        if (editing) {
          ctx.toast(`Changes to ${saved.name} are saved.`);
        } else {
          ctx.setFlash({ created: saved });
        }
        ctx.navigate('#/');
      } catch (e) {
        if (destroyed) return;
        busy(save, false);
        progress.textContent = '';
        const err = e instanceof ApiError ? e : new ApiError(0, 'unknown', String(e));
        let key = err.field;
        if (!key && err.code === 'conflict') key = 'url';
        if (!key && err.code === 'limit_exceeded') key = null;
        const more = err.code === 'unreachable'
          ? 'To save it anyway, turn off “Check that the endpoint answers before saving” under Advanced.'
          : null;
        if (err.code === 'unreachable') advanced.open = true;
        const target = showError(key && errors.has(key) ? key : '', err.message, more);
        if (target) target.focus();
      }
    }
  }

  return {
    destroy() {
      destroyed = true;
    },
  };
}

/** "60, 300" → [60, 300]; "none" → []; "" → null (the default); anything else → undefined. */
function parseSchedule(text) {
  const t = text.trim();
  if (!t) return null;
  if (/^none$/i.test(t)) return [];
  const parts = t.split(/[,\s]+/).filter(Boolean);
  const nums = parts.map(Number);
  if (nums.some((n) => !Number.isFinite(n) || n < 0 || n > 2592000)) return undefined;
  return nums;
}
