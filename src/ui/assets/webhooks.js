// The list of webhooks: status at a glance, and each row's actions (send test, deliveries,
// edit, disable/enable, rotate secret, delete).

import { api, listAll, ApiError } from './api.js';
import { h, busy, fmtDuration, keepFocus, prettyBody, reasonPhrase, uid } from './dom.js';

const STATUS = {
  active: { label: 'Active', tone: 'ok' },
  failing: { label: 'Failing', tone: 'warn' },
  disabled: { label: 'Disabled', tone: 'off' },
};

export function statusBadge(w) {
  const s = STATUS[w.status] || { label: w.status, tone: 'off' };
  let note = null;
  if (w.status === 'failing') {
    const n = w.consecutive_failures || 0;
    note = `${n} failed attempt${n === 1 ? '' : 's'} in a row; hookd keeps retrying`;
  } else if (w.status === 'disabled') {
    note = w.disabled_reason ? `By hookd: ${w.disabled_reason}` : 'Nothing is sent';
  }
  return [h('span', { class: `badge ${s.tone}` }, s.label), note ? h('span', { class: 'status-note', text: note }) : null];
}

function eventsCell(events) {
  const shown = events.slice(0, 4);
  const rest = events.length - shown.length;
  return [
    ...shown.map((e) => h('span', { class: 'chip', text: e === '*' ? '* (all events)' : e })),
    rest > 0 ? h('span', { class: 'muted small', title: events.slice(4).join(', '), text: `+${rest} more` }) : null,
  ];
}

/** A secret shown once, as selectable text, with Copy. */
export function secretBox(secret, label = 'Signing secret') {
  const labelId = uid('secret-label');
  const value = h('code', { class: 'secret', 'aria-labelledby': labelId, tabindex: '0', 'data-focus': `secret-${secret.slice(-6)}` }, secret);
  const copied = h('p', { class: 'copied', role: 'status' });
  const copy = h(
    'button',
    {
      type: 'button',
      class: 'btn',
      onclick: async () => {
        let ok = false;
        try {
          await navigator.clipboard.writeText(secret);
          ok = true;
        } catch {
          ok = false;
        }
        if (!ok) {
          const range = document.createRange();
          range.selectNodeContents(value);
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
        }
        copied.textContent = ok
          ? 'Copied to the clipboard.'
          : 'The browser did not allow copying: the secret is selected, press Ctrl+C (⌘C on a Mac).';
      },
    },
    'Copy',
  );
  return h('div', {}, h('p', { class: 'label', id: labelId, text: label }), h('div', { class: 'secret-box' }, value, copy), copied);
}

export function listView(ctx, root) {
  let webhooks = null;
  let destroyed = false;
  let highlight = null;
  const panels = new Map(); // webhook id → { kind: 'test'|'secret', ... }

  const notices = h('div', {});
  const body = h('div', { class: 'card table-card', 'aria-busy': 'true' }, skeleton());
  const addButton = h('button', { type: 'button', class: 'btn primary', onclick: () => ctx.navigate('#/new') }, h('span', { 'aria-hidden': 'true' }, '+'), 'Add webhook');

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('h1', { tabindex: '-1' }, 'Webhooks'),
        h('p', { class: 'lead', text: 'Endpoints that receive your account’s events. hookd signs every request and retries the ones that fail.' }),
      ),
      addButton,
    ),
    notices,
    body,
  );

  const flash = ctx.takeFlash();
  if (flash && flash.created) {
    highlight = flash.created.id;
    notices.append(createdNotice(flash.created));
  }

  function createdNotice(w) {
    const box = h(
      'section',
      { class: 'notice success', 'aria-labelledby': 'created-title' },
      h('h2', { id: 'created-title', text: `Webhook “${w.name}” added` }),
      h('p', { text: 'Copy its signing secret now and keep it with your receiving system: it proves that requests come from hookd. It is shown only this once.' }),
      secretBox(w.secret),
      h('p', { class: 'hint', text: 'Next: use Send test on the new row to check that your endpoint answers.' }),
      h('div', { class: 'row-actions' }, h('button', { type: 'button', class: 'btn small', onclick: () => box.remove() }, 'Done')),
    );
    return box;
  }

  async function load() {
    try {
      webhooks = await listAll('/webhooks');
      if (!destroyed) render();
    } catch (e) {
      if (destroyed) return;
      body.replaceChildren(
        h(
          'div',
          { class: 'empty' },
          h('h2', { text: 'The webhooks could not be loaded' }),
          h('p', { role: 'alert', text: e.message }),
          h('p', {}, h('button', { type: 'button', class: 'btn section-title', onclick: () => { body.replaceChildren(skeleton()); load(); } }, 'Try again')),
        ),
      );
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function render() {
    keepFocus(() => {
      if (!webhooks.length) {
        body.replaceChildren(
          h(
            'div',
            { class: 'empty' },
            h('h2', { text: 'No webhooks yet — add one to start receiving events' }),
            h('p', { text: 'A webhook sends an HTTPS request to your system each time an event you choose happens, such as a new customer or a completed deal.' }),
          ),
        );
        return;
      }
      const rows = [];
      for (const w of webhooks) {
        rows.push(row(w));
        const p = panels.get(w.id);
        if (p) rows.push(panelRow(w, p));
      }
      body.replaceChildren(
        h(
          'table',
          { class: 'stack webhooks' },
          h('caption', { class: 'sr-only', text: 'Webhooks of this account' }),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Endpoint URL'),
              h('th', { scope: 'col' }, 'Events'),
              h('th', { scope: 'col' }, 'Status'),
              h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
            ),
          ),
          h('tbody', {}, rows),
        ),
      );
    });
  }

  function row(w) {
    const nameId = `wh-name-${w.id}`;
    const btn = (label, onclick, extra = {}) =>
      h(
        'button',
        {
          type: 'button',
          class: `btn small ${extra.class || ''}`.trim(),
          'aria-describedby': nameId,
          'data-focus': `${w.id}-${label}`,
          disabled: extra.busy,
          'aria-busy': extra.busy ? 'true' : undefined,
          onclick,
        },
        label,
      );
    const testing = Boolean(panels.get(w.id) && panels.get(w.id).pending);
    const enabled = w.status !== 'disabled';
    return h(
      'tr',
      { class: highlight === w.id ? 'highlight' : undefined, 'data-webhook-id': w.id },
      h(
        'td',
        { 'data-label': 'Endpoint URL' },
        h('div', { class: 'wh-name', id: nameId, text: w.name }),
        h('div', { class: 'url', text: w.url }),
        w.description ? h('div', { class: 'desc', text: w.description }) : null,
      ),
      h('td', { 'data-label': 'Events', class: 'col-events' }, eventsCell(w.events)),
      h('td', { 'data-label': 'Status' }, statusBadge(w)),
      h(
        'td',
        { class: 'actions' },
        h(
          'div',
          { class: 'row-actions' },
          btn('Send test', (ev) => sendTest(w, ev.currentTarget), { busy: testing }),
          btn('Deliveries', () => ctx.navigate(`#/webhooks/${encodeURIComponent(w.id)}/deliveries`)),
          btn('Edit', () => ctx.navigate(`#/webhooks/${encodeURIComponent(w.id)}/edit`)),
          btn(enabled ? 'Disable' : 'Enable', (ev) => setEnabled(w, !enabled, ev.currentTarget)),
          btn('Rotate secret', (ev) => rotate(w, ev.currentTarget)),
          btn('Delete', (ev) => remove(w, ev.currentTarget), { class: 'danger' }),
        ),
      ),
    );
  }

  function panelRow(w, p) {
    const close = h('button', { type: 'button', class: 'btn small ghost close', 'data-focus': `${w.id}-close`, onclick: () => { panels.delete(w.id); render(); } }, 'Close');
    let content;
    if (p.kind === 'test' && p.pending) {
      content = h('div', { class: 'result-head', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `Sending a test event to ${w.name}…`);
    } else if (p.kind === 'test' && p.error) {
      content = [h('div', { class: 'result-head' }, h('strong', { text: 'The test could not be sent' }), close), h('p', { class: 'error-text', role: 'alert', text: p.error })];
    } else if (p.kind === 'test') {
      const r = p.result;
      const ok = r.success;
      const headline = r.status_code
        ? [h('span', { class: 'code', text: String(r.status_code) }), h('span', { text: reasonPhrase(r.status_code) })]
        : [h('strong', { text: 'No answer' })];
      content = [
        h(
          'div',
          { class: 'result-head', role: 'status' },
          h('span', { class: `badge ${ok ? 'ok' : 'bad'}` }, ok ? 'Test delivered' : 'Test failed'),
          ...headline,
          h('span', { class: 'muted num', text: `in ${fmtDuration(r.duration_ms)}` }),
          h('span', { class: 'muted small', text: r.event_type ? `sample ${r.event_type}` : '' }),
          close,
        ),
        r.error ? h('p', { class: 'error-text', text: r.error }) : null,
        h('h3', { class: 'section-title', text: 'Response body' }),
        r.response_body
          ? h('pre', { class: 'body', tabindex: '0', text: prettyBody(r.response_body) })
          : h('p', { class: 'muted small', text: 'The endpoint answered with an empty body.' }),
      ];
    } else if (p.kind === 'secret') {
      content = [
        h('div', { class: 'result-head' }, h('strong', { text: 'Secret rotated' }), close),
        h('p', { class: 'hint', text: 'The previous secret keeps signing beside this one for 24 hours, so there is time to update your receiving system. This secret is shown only now.' }),
        secretBox(p.secret, 'New signing secret'),
      ];
    }
    return h('tr', { class: 'panel-row' }, h('td', { colspan: '4' }, content));
  }

  async function sendTest(w, button) {
    busy(button, true);
    panels.set(w.id, { kind: 'test', pending: true });
    render();
    try {
      const result = await api('POST', `/webhooks/${encodeURIComponent(w.id)}/test`, {});
      panels.set(w.id, { kind: 'test', result });
    } catch (e) {
      panels.set(w.id, { kind: 'test', error: e.message });
    }
    if (!destroyed) render();
  }

  async function setEnabled(w, enable, button) {
    busy(button, true);
    try {
      const updated = await api('PATCH', `/webhooks/${encodeURIComponent(w.id)}`, { status: enable ? 'active' : 'disabled' });
      replace(updated);
      ctx.toast(enable ? `${w.name} is enabled.` : `${w.name} is disabled: nothing is sent to it until it is enabled again.`);
    } catch (e) {
      busy(button, false);
      failed(e);
    }
  }

  async function rotate(w, button) {
    const yes = await ctx.confirm({
      title: 'Rotate the signing secret?',
      message: `${w.name} gets a new signing secret. The current one keeps working beside it for 24 hours.`,
      confirmLabel: 'Rotate secret',
    });
    if (!yes) return;
    busy(button, true);
    try {
      const r = await api('POST', `/webhooks/${encodeURIComponent(w.id)}/secret/rotate`, {});
      panels.set(w.id, { kind: 'secret', secret: r.secret });
      render();
    } catch (e) {
      busy(button, false);
      failed(e);
    }
  }

  async function remove(w, button) {
    const yes = await ctx.confirm({
      title: 'Delete this webhook?',
      message: `${w.name} (${w.url}) stops receiving events at once, and its delivery log is no longer shown. This cannot be undone.`,
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!yes) return;
    busy(button, true);
    try {
      await api('DELETE', `/webhooks/${encodeURIComponent(w.id)}`);
      webhooks = webhooks.filter((x) => x.id !== w.id);
      panels.delete(w.id);
      render();
      ctx.toast(`${w.name} was deleted.`);
      const h1 = root.querySelector('h1');
      if (h1) h1.focus();
    } catch (e) {
      busy(button, false);
      failed(e);
    }
  }

  function replace(updated) {
    webhooks = webhooks.map((x) => (x.id === updated.id ? updated : x));
    render();
  }

  function failed(e) {
    const msg = e instanceof ApiError ? e.message : String(e);
    notices.replaceChildren(
      h('div', { class: 'alert block', role: 'alert' }, msg, h('button', { type: 'button', class: 'btn small ghost', onclick: () => notices.replaceChildren() }, 'Dismiss')),
    );
    if (e instanceof ApiError && e.status === 404) load();
  }

  // Status changes (failing, recovered, disabled by hookd) show up without a reload.
  const onVisible = () => {
    if (document.visibilityState === 'visible' && webhooks) load();
  };
  document.addEventListener('visibilitychange', onVisible);
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible' && webhooks && !body.querySelector('[aria-busy="true"]')) refresh();
  }, 15000);

  async function refresh() {
    try {
      const fresh = await listAll('/webhooks');
      if (destroyed) return;
      if (JSON.stringify(fresh) !== JSON.stringify(webhooks)) {
        webhooks = fresh;
        render();
      }
    } catch {
      // A failed background refresh changes nothing on screen.
    }
  }

  load();
  return {
    destroy() {
      destroyed = true;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}

function skeleton() {
  return h('div', { 'aria-hidden': 'true' }, h('div', { class: 'skeleton-row' }), h('div', { class: 'skeleton-row' }), h('div', { class: 'skeleton-row' }));
}
