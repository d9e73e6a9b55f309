// The admin page's stories in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is downloaded). Run by tests/admin_page_browser.rs, which
// starts hookd and an HTTPS receiver and passes everything in environment variables:
//
//   HOOKD_URL            http://127.0.0.1:PORT (the daemon)
//   HOOKD_ADMIN_KEY      an admin key of the tenant
//   HOOKD_TENANT_NAME    the tenant's name
//   HOOKD_PORTAL_URL     a fresh one-time portal link of that tenant
//   HOOKD_RECEIVER_URL   https://localhost:PORT/hook (the receiver, trusted by hookd)
//   HOOKD_CONTROL_URL    http://127.0.0.1:PORT: GET /received, POST /reply?status=N
//   HOOKD_ARTIFACTS      where screenshots go
//   HOOKD_CHROMIUM       the browser binary (default /usr/bin/chromium)
//
// Exit status 0 when every story passed; otherwise the first failure is printed and a
// screenshot of that moment is saved beside the others.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`environment variable ${name} is not set`);
  return v;
};
const HOOKD = env('HOOKD_URL').replace(/\/$/, '');
const KEY = env('HOOKD_ADMIN_KEY');
const TENANT_NAME = env('HOOKD_TENANT_NAME');
const PORTAL_URL = env('HOOKD_PORTAL_URL');
const RECEIVER_URL = env('HOOKD_RECEIVER_URL');
const CONTROL = env('HOOKD_CONTROL_URL').replace(/\/$/, '');
const ARTIFACTS = env('HOOKD_ARTIFACTS');
const CHROMIUM = env('HOOKD_CHROMIUM', '/usr/bin/chromium');
const PAGE = `${HOOKD}/settings/webhooks`;
const ORIGIN = new URL(HOOKD).origin;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

mkdirSync(ARTIFACTS, { recursive: true });

// --- small helpers -----------------------------------------------------------------------

class Failure extends Error {}
function check(cond, message) {
  if (!cond) throw new Failure(message);
}

async function hookdApi(method, path, body) {
  const resp = await fetch(`${HOOKD}/api${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: resp.status, json, text };
}

async function received() {
  const r = await fetch(`${CONTROL}/received`);
  return r.json();
}

async function receiverReplies(status) {
  const r = await fetch(`${CONTROL}/reply?status=${status}`, { method: 'POST' });
  check(r.ok, `the receiver's control answered ${r.status}`);
}

async function waitFor(what, f, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Failure(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const shots = [];
async function shot(page, name) {
  // Passing notices ("Webhook deleted.") fade within 4 s; the screenshots show the page itself.
  await page.locator('#toasts .toast').waitFor({ state: 'detached', timeout: 6000 }).catch(() => {});
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

async function noHorizontalOverflow(page, where) {
  const m = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    inner: window.innerWidth,
  }));
  check(m.doc <= m.inner && m.body <= m.inner, `${where}: content is ${Math.max(m.doc, m.body)} px wide in a ${m.inner} px window (horizontal scroll)`);
}

let stepNo = 0;
async function step(name, f) {
  stepNo += 1;
  const t0 = Date.now();
  try {
    await f();
  } catch (e) {
    e.message = `step ${stepNo} "${name}": ${e.message}`;
    throw e;
  }
  console.log(`ok ${stepNo} - ${name} (${Date.now() - t0} ms)`);
}

// --- the browser -------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const pageErrors = [];
const foreignRequests = [];
const consoleErrors = [];

async function newContext() {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: 'Europe/Berlin' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ORIGIN });
  context.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('about:')) return;
    let origin = null;
    try { origin = new URL(url).origin; } catch { origin = url; }
    if (origin !== ORIGIN) foreignRequests.push(url);
  });
  context.on('page', watchPage);
  return context;
}

function watchPage(page) {
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
}

let page = null;
let exitCode = 0;
try {
  const context = await newContext();
  page = await context.newPage();

  // --- portal link ---------------------------------------------------------------------
  let sessionCookie = null;
  await step('a portal link signs the browser in for its tenant, with a hardened cookie', async () => {
    await page.goto(PORTAL_URL);
    check(new URL(page.url()).pathname === '/settings/webhooks', `landed on ${page.url()}`);
    check(!page.url().includes('token='), 'the one-time token stays in the address bar');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByText(TENANT_NAME).first().waitFor();
    await page.getByText('No webhooks yet — add one to start receiving events').waitFor();
    const cookies = await context.cookies(ORIGIN);
    sessionCookie = cookies.find((c) => c.name === 'hookd_session');
    check(sessionCookie, 'no hookd_session cookie was set');
    check(sessionCookie.httpOnly, 'the session cookie is not HttpOnly');
    check(sessionCookie.sameSite === 'Strict', `the session cookie is SameSite=${sessionCookie.sameSite}`);
    check(await page.evaluate(() => document.cookie) === '', 'page script can read a cookie');
  });

  await step('the session cookie alone (no X-Hookd-Session header) is refused', async () => {
    const cookie = `hookd_session=${sessionCookie.value}`;
    const bare = await fetch(`${HOOKD}/api/webhooks`, { headers: { cookie } });
    check(bare.status === 403, `without the header: ${bare.status}`);
    const withHeader = await fetch(`${HOOKD}/api/webhooks`, { headers: { cookie, 'x-hookd-session': '1' } });
    check(withHeader.status === 200, `with the header: ${withHeader.status}`);
  });

  await step('opening the same portal link again is refused with a sentence', async () => {
    const other = await newContext();
    const p2 = await other.newPage();
    const resp = await p2.goto(PORTAL_URL);
    check(resp.status() === 410, `reused link answered ${resp.status()}`);
    await p2.getByRole('heading', { name: 'This sign-in link has already been used' }).waitFor();
    const text = await p2.locator('body').innerText();
    check(!/\{"error"|panicked|at src\//.test(text), `the page shows JSON or a stack: ${text}`);
    await shot(p2, 'portal-link-used-desktop');
    await other.close();
  });

  await step('Sign out ends the portal session on the server', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    const r = await fetch(`${HOOKD}/api/webhooks`, { headers: { cookie: `hookd_session=${sessionCookie.value}`, 'x-hookd-session': '1' } });
    check(r.status === 401, `the old session still answers ${r.status}`);
  });

  // --- API key -------------------------------------------------------------------------
  await step('a wrong API key shows the API error; the right one signs in, kept in sessionStorage only', async () => {
    await page.getByLabel('API key').fill('hk_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    check(/not valid/i.test(await alert.innerText()), `unexpected error: ${await alert.innerText()}`);
    await page.getByLabel('API key').fill(KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Add webhook' }).waitFor();
    await page.getByText('No webhooks yet — add one to start receiving events').waitFor();
    const stored = await page.evaluate(() => ({
      session: Object.values({ ...sessionStorage }),
      local: Object.keys({ ...localStorage }),
      cookie: document.cookie,
    }));
    check(stored.session.includes(KEY), 'the key is not in sessionStorage');
    check(stored.local.length === 0, `localStorage holds ${stored.local.join(', ')}`);
    check(stored.cookie === '', 'a script-readable cookie was set');
  });

  await step('the keyboard reaches Add webhook with a visible focus ring, and Enter opens the form', async () => {
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).click();
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const el = document.activeElement;
      const s = getComputedStyle(el);
      return { text: el.textContent.trim(), outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    check(focus.text.includes('Add webhook'), `Tab went to "${focus.text}"`);
    check(focus.outline !== 'none' && focus.width >= 2, `focus is not visible (outline ${focus.outline} ${focus.width}px)`);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Add webhook' }).waitFor();
  });

  // --- add -----------------------------------------------------------------------------
  await step('an http:// URL is refused next to the Endpoint URL field', async () => {
    await page.getByLabel('Endpoint URL').fill('http://crm.example.com/hooks');
    await page.getByRole('group', { name: 'Customer' }).getByLabel('Select all').check();
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'https://' });
    await alert.waitFor();
    check(await page.getByLabel('Endpoint URL').getAttribute('aria-invalid') === 'true', 'the field is not marked invalid');
    check(await page.getByRole('heading', { name: 'Add webhook' }).isVisible(), 'the form was left');
  });

  await step('phone width: the form has no horizontal scroll', async () => {
    await page.setViewportSize(PHONE);
    await noHorizontalOverflow(page, 'add form');
    await page.setViewportSize(DESKTOP);
  });

  let secret = null;
  await step('adding the receiver URL shows the secret once, with Copy', async () => {
    await page.getByLabel('Endpoint URL').fill(RECEIVER_URL);
    await page.getByLabel('Name').fill('CRM sync');
    await page.getByLabel('Description').fill('New and changed customers for the CRM');
    check(await page.getByRole('checkbox', { name: 'customer.created', exact: true }).isChecked(), 'Select all did not check customer.created');
    check(await page.getByRole('checkbox', { name: 'customer.updated', exact: true }).isChecked(), 'Select all did not check customer.updated');
    await page.getByRole('button', { name: 'Save' }).click();
    const secretField = page.getByText(/^whsec_/);
    await secretField.waitFor();
    check(await page.getByText('Signing secret', { exact: true }).isVisible(), 'the secret has no label');
    secret = (await secretField.innerText()).trim();
    check(/^whsec_[A-Za-z0-9+/=]{32,}$/.test(secret), `unexpected secret ${secret}`);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
    if (clip !== null) check(clip === secret, 'the clipboard does not hold the secret');
    const row = page.getByRole('row').filter({ hasText: RECEIVER_URL });
    await row.getByText('Active').waitFor();
    check(await row.getByText('customer.created').isVisible(), 'the events column does not list customer.created');
  });

  const webhooks = (await hookdApi('GET', '/webhooks')).json.data;
  const webhookId = webhooks.find((w) => w.url === RECEIVER_URL)?.id;
  check(webhookId, 'the new webhook is not in the API');

  // Two more webhooks, so the list and its screenshots show a realistic account.
  const extra1 = await hookdApi('POST', '/webhooks', { name: 'Accounting export', url: `${new URL(RECEIVER_URL).origin}/accounting`, events: ['deal.completed', 'job.invoiced'], verify: false });
  const extra2 = await hookdApi('POST', '/webhooks', { name: 'Old dealer portal', url: `${new URL(RECEIVER_URL).origin}/legacy`, events: ['vehicle.*'], status: 'disabled', verify: false });
  check(extra1.status === 201 && extra2.status === 201, `extra webhooks: ${extra1.text} ${extra2.text}`);

  await step('Send test shows code, duration and body within 5 s, and the receiver got it', async () => {
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: RECEIVER_URL });
    await row.waitFor();
    const before = (await received()).filter((r) => r.path === '/hook').length;
    const t0 = Date.now();
    await row.getByRole('button', { name: 'Send test' }).click();
    const result = page.getByRole('status').filter({ hasText: 'Test delivered' });
    await result.waitFor({ timeout: 5000 });
    const took = Date.now() - t0;
    check(took < 5000, `the result took ${took} ms`);
    const text = await result.innerText();
    check(/\b200\b/.test(text), `no 200 in "${text}"`);
    check(/\d+(\.\d+)? m?s\b/.test(text), `no duration in "${text}"`);
    await page.locator('pre.body').filter({ hasText: 'ok' }).first().waitFor();
    const got = await waitFor('the test request at the receiver', async () => {
      const all = (await received()).filter((r) => r.path === '/hook');
      return all.length > before ? all[all.length - 1] : null;
    }, 5000);
    check(got.event === 'customer.created', `the receiver got event ${got.event}`);
    await shot(page, 'admin-desktop');
  });

  // --- deliveries ----------------------------------------------------------------------
  await step('an event published through the API appears under Deliveries and its body opens', async () => {
    const pub = await hookdApi('POST', '/events', { type: 'customer.created', data: { id: 'cus_browser_1', name: 'Grace Hopper', email: 'grace@example.com' } });
    check(pub.status === 202, `publish answered ${pub.status} ${pub.text}`);
    await page.getByRole('row').filter({ hasText: RECEIVER_URL }).getByRole('button', { name: 'Deliveries' }).click();
    await page.getByRole('heading', { name: 'Deliveries', level: 1 }).waitFor();
    for (const name of ['Time', 'Event', 'Status', 'HTTP', 'Duration']) {
      await page.getByRole('columnheader', { name, exact: true }).waitFor();
    }
    // The test send above is in the log too, marked as one, without Retry or Replay.
    const testRow = page.locator('tr.delivery').filter({ hasText: 'Test send' });
    await testRow.waitFor({ timeout: 15000 });
    check(await testRow.getByRole('button', { name: /Retry|Replay/ }).count() === 0, 'a test send offers Retry or Replay');
    const row = page.locator('tr.delivery').filter({ hasText: 'customer.created' }).filter({ hasText: 'Success' }).filter({ hasNotText: 'Test send' });
    await row.waitFor({ timeout: 15000 });
    check(/\b200\b/.test(await row.innerText()), 'the row does not show HTTP 200');
    await row.getByRole('button').first().click();
    await page.locator('pre.body').filter({ hasText: 'Grace Hopper' }).waitFor();
    await page.getByText('Attempt 1').waitFor();
    await page.getByText('webhook-signature', { exact: true }).waitFor();
  });

  await step('a failed delivery shows 500, and Retry delivers it once the receiver is back', async () => {
    await receiverReplies(500);
    const pub = await hookdApi('POST', '/events', { type: 'customer.updated', data: { id: 'cus_browser_2', name: 'Katherine Johnson' } });
    check(pub.status === 202, `publish answered ${pub.status}`);
    const row = page.locator('tr.delivery').filter({ hasText: 'customer.updated' });
    await row.filter({ hasText: 'Failed' }).waitFor({ timeout: 15000 });
    check(/\b500\b/.test(await row.innerText()), 'the failed row does not show HTTP 500');
    await page.getByLabel('Status').selectOption('failed');
    await page.locator('tr.delivery').filter({ hasText: 'customer.created' }).first().waitFor({ state: 'detached' });
    await row.waitFor();
    await receiverReplies(200);
    await row.getByRole('button', { name: 'Retry' }).click();
    await page.getByLabel('Status').selectOption('');
    await row.filter({ hasText: 'Success' }).waitFor({ timeout: 15000 });
    const hits = (await received()).filter((r) => r.path === '/hook' && r.body.includes('Katherine Johnson'));
    check(hits.length === 2, `the receiver got the retried event ${hits.length} times`);
    await row.getByRole('button').first().click();
    await page.getByText('Attempt 2').waitFor();
    await page.getByRole('button', { name: 'Retry failed in range' }).click();
    await page.getByText('No failed deliveries').waitFor();
    await shot(page, 'deliveries-desktop');
  });

  await step("an alert e-mail's deliveries link opens that webhook's deliveries after signing in", async () => {
    // The link hookd's alert e-mails carry (alerts::deliveries_link), opened in a new browser.
    const other = await newContext();
    const p2 = await other.newPage();
    await p2.goto(`${PAGE}#/webhooks/${encodeURIComponent(webhookId)}/deliveries`);
    await p2.getByLabel('API key').fill(KEY);
    await p2.getByRole('button', { name: 'Sign in' }).click();
    await p2.getByRole('heading', { name: 'Deliveries', level: 1 }).waitFor();
    await p2.locator('tr.delivery').filter({ hasText: 'customer.updated' }).waitFor();
    await other.close();
  });

  await step('phone width: deliveries with an open attempt have no horizontal scroll', async () => {
    await page.setViewportSize(PHONE);
    await noHorizontalOverflow(page, 'deliveries');
    await shot(page, 'deliveries-phone');
    await page.setViewportSize(DESKTOP);
  });

  // --- edit (Advanced), disable, rotate, delete ---------------------------------------
  await step('Edit: the Advanced part saves headers, method, rate limit, order and retry schedule', async () => {
    await page.getByRole('link', { name: 'All webhooks' }).click();
    await page.getByRole('row').filter({ hasText: RECEIVER_URL }).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit webhook' }).waitFor();
    check(await page.getByLabel('Endpoint URL').inputValue() === RECEIVER_URL, 'the form is not filled in');
    await page.getByText('Advanced').click();
    await page.getByLabel('HTTP method').selectOption('PUT');
    await page.getByRole('button', { name: 'Add header' }).click();
    await page.getByLabel('Header 1').fill('X-Api-Key');
    await page.getByLabel('Value 1').fill('crm-token-123');
    await page.getByLabel('Rate limit (requests per second)').fill('20');
    await page.getByLabel('Deliver in order').check();
    await page.getByLabel('Retry schedule (seconds)').fill('30, 120');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    const w = (await hookdApi('GET', `/webhooks/${webhookId}`)).json;
    check(w.method === 'PUT', `method ${w.method}`);
    check(w.headers['X-Api-Key'] === 'crm-token-123', `headers ${JSON.stringify(w.headers)}`);
    check(w.rate_limit_per_sec === 20 && w.ordered === true, `rate ${w.rate_limit_per_sec} ordered ${w.ordered}`);
    check(JSON.stringify(w.retry_schedule_secs) === '[30,120]', `schedule ${JSON.stringify(w.retry_schedule_secs)}`);
  });

  await step('Disable shows Disabled, and Enable brings it back', async () => {
    const row = page.getByRole('row').filter({ hasText: RECEIVER_URL });
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('Disabled', { exact: true }).waitFor();
    check((await hookdApi('GET', `/webhooks/${webhookId}`)).json.status === 'disabled', 'the API does not say disabled');
    await row.getByRole('button', { name: 'Enable' }).click();
    await row.getByText('Active', { exact: true }).waitFor();
  });

  await step('Rotate secret asks first, then shows the new secret', async () => {
    const row = page.getByRole('row').filter({ hasText: RECEIVER_URL });
    await row.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByText('New signing secret', { exact: true }).waitFor();
    const fresh = (await page.getByText(/^whsec_/).innerText()).trim();
    check(fresh.startsWith('whsec_') && fresh !== secret, 'no new secret shown');
  });

  await step('phone width: the list has no horizontal scroll', async () => {
    await page.getByRole('button', { name: 'Close' }).click();
    await page.setViewportSize(PHONE);
    await noHorizontalOverflow(page, 'webhook list');
    await shot(page, 'admin-phone');
    await page.setViewportSize(DESKTOP);
  });

  await step('Delete asks to confirm; Cancel keeps the webhook, Delete removes it', async () => {
    const row = page.getByRole('row').filter({ hasText: RECEIVER_URL });
    await row.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    check(await row.isVisible(), 'Cancel deleted the webhook');
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    check((await hookdApi('GET', `/webhooks/${webhookId}`)).status === 404, 'the API still has the webhook');
  });

  await step('no uncaught page errors, and no request left the origin', async () => {
    check(pageErrors.length === 0, `page errors:\n${pageErrors.join('\n')}`);
    check(foreignRequests.length === 0, `requests to other origins:\n${foreignRequests.join('\n')}`);
  });
} catch (e) {
  exitCode = 1;
  console.error(`not ok - ${e instanceof Failure ? e.message : e.stack || e}`);
  if (page) {
    try {
      await shot(page, 'failure');
    } catch {
      // The page may be gone.
    }
  }
  if (pageErrors.length) console.error(`page errors:\n${pageErrors.join('\n')}`);
} finally {
  if (consoleErrors.length) console.log(`browser console errors (informational):\n  ${consoleErrors.join('\n  ')}`);
  for (const s of shots) console.log(`screenshot: ${s}`);
  await browser.close();
}
process.exit(exitCode);
