// The admin page: sign-in, the account bar, routing between views (#/, #/new,
// #/webhooks/<id>/edit, #/webhooks/<id>/deliveries), and what the views share.

import { api, auth, ApiError, setUnauthorizedHandler } from './api.js';
import { h, busy, uid } from './dom.js';
import { listView } from './webhooks.js';
import { formView } from './form.js';
import { deliveriesView } from './deliveries.js';

const app = document.getElementById('app');
const viewEl = document.getElementById('view');
const accountEl = document.getElementById('account');
const dialogEl = document.getElementById('confirm');
const toastsEl = document.getElementById('toasts');
const allowHttpMeta = document.querySelector('meta[name="hookd-allow-http"]');

let current = null; // the mounted view: { destroy() }
let flash = null; // one-shot data for the next view (e.g. the secret of a new webhook)
let catalogPromise = null;
let session = null; // { tenant_id, tenant_name, expires_at } when signed in by a portal link

/** What every view may use. */
const ctx = {
  allowHttp: allowHttpMeta ? allowHttpMeta.content === 'true' : false,
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  setFlash(value) {
    flash = value;
  },
  takeFlash() {
    const f = flash;
    flash = null;
    return f;
  },
  /** The event type catalog, fetched once per sign-in. */
  catalog() {
    if (!catalogPromise) {
      catalogPromise = api('GET', '/event-types').then((r) => r.data || []);
      catalogPromise.catch(() => {
        catalogPromise = null;
      });
    }
    return catalogPromise;
  },
  toast,
  confirm: confirmDialog,
};

// One short message at a time, at the bottom; a newer one replaces the older.
let toastTimer = null;
function toast(message) {
  clearTimeout(toastTimer);
  toastsEl.replaceChildren(h('div', { class: 'toast', text: message }));
  toastTimer = setTimeout(() => toastsEl.replaceChildren(), 4000);
}

/** A modal question; resolves true when the person confirms. */
function confirmDialog({ title, message, confirmLabel, danger }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    let done = false;
    // The page behind becomes visible to assistive technology again at once, before the
    // dialog's asynchronous close event.
    const finish = (answer) => {
      if (done) return;
      done = true;
      app.removeAttribute('aria-hidden');
      if (dialogEl.open) dialogEl.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    };
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => finish(false) }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'btn danger solid' : 'btn primary', onclick: () => finish(true) }, confirmLabel);
    dialogEl.replaceChildren(
      h('h2', { id: 'confirm-title', text: title }),
      h('p', { id: 'confirm-message', text: message }),
      h('div', { class: 'row-actions' }, cancel, ok),
    );
    // Escape closes the dialog without either button.
    dialogEl.addEventListener('close', () => finish(false), { once: true });
    app.setAttribute('aria-hidden', 'true');
    dialogEl.showModal();
    (danger ? cancel : ok).focus();
  });
}

function mount(view, ...args) {
  if (current && current.destroy) current.destroy();
  viewEl.replaceChildren();
  viewEl.removeAttribute('aria-busy');
  current = view(ctx, viewEl, ...args) || null;
}

function focusHeading() {
  const h1 = viewEl.querySelector('h1');
  if (h1) h1.focus({ preventScroll: false });
}

function route() {
  if (!auth.mode()) return;
  const parts = (location.hash || '#/').replace(/^#\/?/, '').split('/').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts[0] === 'new') mount(formView, null);
  else if (parts[0] === 'webhooks' && parts[1] && parts[2] === 'edit') mount(formView, parts[1]);
  else if (parts[0] === 'webhooks' && parts[1] && parts[2] === 'deliveries') mount(deliveriesView, parts[1]);
  else mount(listView);
  document.title = `${viewEl.querySelector('h1')?.textContent || 'Webhooks'} · hookd`;
  focusHeading();
}

function renderAccount() {
  if (!auth.mode()) {
    accountEl.replaceChildren();
    return;
  }
  const who = auth.mode() === 'session'
    ? (session && session.tenant_name) || 'Signed in'
    : 'Signed in with an API key';
  accountEl.replaceChildren(
    h('span', { class: auth.mode() === 'key' ? 'who who-key' : 'who', title: session ? `Session ends ${new Date(session.expires_at).toLocaleString()}` : undefined }, who),
    h('button', { type: 'button', class: 'btn small', onclick: signOut }, 'Sign out'),
  );
}

async function signOut(ev) {
  const button = ev && ev.currentTarget;
  busy(button, true);
  if (auth.mode() === 'session') {
    try {
      await api('DELETE', '/portal-session', undefined, { quiet: true });
    } catch {
      // Already ended server-side: nothing more to do.
    }
  }
  endSignedIn();
  showSignIn({ note: 'You are signed out.' });
}

function endSignedIn() {
  if (current && current.destroy) current.destroy();
  current = null;
  auth.clear();
  session = null;
  catalogPromise = null;
  flash = null;
  renderAccount();
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', location.pathname);
}

function showSignIn({ note, problem } = {}) {
  viewEl.removeAttribute('aria-busy');
  const inputId = uid('api-key');
  const hintId = uid('api-key-hint');
  const errorId = uid('api-key-error');
  const input = h('input', {
    id: inputId,
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    required: true,
    'aria-describedby': hintId,
  });
  const error = h('p', { id: errorId, class: 'alert', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Sign in');
  const showError = (message) => {
    error.textContent = message;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${hintId} ${errorId}`);
    input.focus();
  };
  const form = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const key = input.value.trim();
        if (!key) {
          showError('Paste an admin API key to sign in.');
          return;
        }
        busy(submit, true);
        try {
          await api('GET', '/webhooks?limit=1', undefined, { as: 'key', key, quiet: true });
          auth.useKey(key);
          renderAccount();
          if (!location.hash) history.replaceState(null, '', '#/');
          route();
        } catch (e) {
          busy(submit, false);
          showError(signInProblem(e));
        }
      },
    },
    h(
      'div',
      { class: 'field' },
      h('label', { for: inputId }, 'API key'),
      input,
      h('p', { id: hintId, class: 'hint' }, 'An admin key of your account (it starts with hk_). It is kept in this browser tab only and forgotten when the tab closes.'),
      error,
    ),
    submit,
  );
  viewEl.replaceChildren(
    h(
      'section',
      { class: 'card narrow', 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title', tabindex: '-1' }, 'Webhooks'),
      h('p', { class: 'lead', text: 'Sign in to choose where your account sends events, test endpoints and check deliveries.' }),
      note ? h('p', { class: 'notice success', role: 'status', text: note }) : null,
      problem ? h('p', { class: 'alert block', role: 'alert', text: problem }) : null,
      h('div', { class: 'section-title' }, form),
      h('p', { class: 'hint section-title', text: 'Opened Webhooks from another system? Its link signs you in without a key; links work once and for a few minutes.' }),
    ),
  );
  document.title = 'Sign in · Webhooks';
  input.focus();
}

function signInProblem(e) {
  if (!(e instanceof ApiError)) return 'Signing in failed. Try again.';
  if (e.code === 'missing_tenant') {
    return 'This is the operator key, which manages every account. Sign in with an admin key of one account.';
  }
  return e.message;
}

async function boot() {
  setUnauthorizedHandler(() => {
    if (!auth.mode()) return;
    const wasSession = auth.mode() === 'session';
    endSignedIn();
    showSignIn({
      problem: wasSession
        ? 'Your session has ended. Open Webhooks again from your system, or sign in with an API key.'
        : 'The API key is no longer accepted (revoked or expired). Sign in again.',
    });
  });
  window.addEventListener('hashchange', route);

  // A session opened by a portal link comes first: it is what the person just clicked.
  try {
    session = await api('GET', '/portal-session', undefined, { as: 'session', quiet: true });
    auth.useSession();
  } catch {
    session = null;
    const key = auth.storedKey();
    if (key) auth.useKey(key);
  }
  renderAccount();
  if (auth.mode()) route();
  else showSignIn();
}

boot();
