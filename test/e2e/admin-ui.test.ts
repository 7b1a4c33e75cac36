import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';
import type { KnexStore } from '../../src/store/index.js';

/**
 * The admin UI in real headless Chromium (Debian's `chromium`; never a downloaded browser), against an
 * engine on a real port. One page walks the admin's path: sign in, write a script, try it, govern
 * actions, add an outgoing webhook, find a real run. Every console message of type error and every
 * page error (CSP violations included) fails the suite.
 *
 * `HOOKGATE_UI_SCREENSHOTS=1` also writes docs/ui-*.png (the README shows them). A machine without
 * /usr/bin/chromium fails here (.ci/run installs it); `HOOKGATE_SKIP_BROWSER_TESTS=1` skips on purpose.
 */
// Used only inside page.evaluate (run in the browser); this project compiles without the DOM library.
declare const document: { getElementById(id: string): { replaceChildren(): void } | null; activeElement: unknown; documentElement: { scrollWidth: number; clientWidth: number } };
declare const sessionStorage: { getItem(key: string): string | null };

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.HOOKGATE_UI_SCREENSHOTS === '1';

const BROKEN_SCRIPT = `console.log('about to cancel');
if (body.type === ) {
}`;
const SCRIPT = `console.log('cancelling', body.data.object.id);
await actions['billing.cancel'](body.data.object.id);
result = { event: 'subscription.cancelled', data: { id: body.data.object.id } };`;

describe.skipIf(process.env.HOOKGATE_SKIP_BROWSER_TESTS === '1')('admin UI in Chromium', () => {
  let store: KnexStore;
  let te: TestEngine;
  let receiver: Server;
  let receiverUrl: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  const shot = async (name: string): Promise<void> => {
    if (!SCREENSHOTS) return;
    mkdirSync('docs', { recursive: true });
    await page.evaluate(() => document.getElementById('toasts')?.replaceChildren());
    await page.screenshot({ path: `docs/ui-${name}.png`, fullPage: true });
  };
  const tab = (name: string) => page.getByRole('tab', { name });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    store = await storeFactories()[0]!.create();
    te = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true });
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(7_000);
    page.on('console', (msg) => {
      // Chrome logs every 4xx answer; the 401 of the wrong key, the 400 of the broken script and the 404 of the
      // link to a missing delivery are the test's own.
      if (msg.type() === 'error' && !/^Failed to load resource: the server responded with a status of 40[014]\b/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    // The confirm() of delete/rotate: accepted, as an admin would.
    page.on('dialog', (d) => void d.accept());
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    await te?.close();
    await store?.close();
  });

  it('serves the page and its bundle under a strict CSP, without a token', async () => {
    const res = await fetch(`${te.baseUrl}/admin/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/style-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    const html = await res.text();
    expect(html).toContain('assets/app.js');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect((await fetch(`${te.baseUrl}/admin/assets/app.js`)).status).toBe(200);
    const bare = await fetch(`${te.baseUrl}/admin`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/admin/');
  });

  it('signs in with the keyboard; a wrong key is refused', async () => {
    await page.goto(`${te.baseUrl}/admin/`);
    const key = page.getByLabel('API key');
    await expect.poll(() => key.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.type('not-a-key');
    await page.keyboard.press('Enter');
    await page.getByText('That key is not valid.').waitFor();
    await key.fill(ADMIN_TOKEN);
    await shot('signin');
    await page.keyboard.press('Enter');
    await tab('Webhooks').waitFor();
    expect(await page.getByTestId('identity').textContent()).toContain('admin');
    expect(await page.evaluate(() => sessionStorage.getItem('hookgate.adminToken'))).toBe(ADMIN_TOKEN);
  });

  it('creates an inbound webhook: a compile error is shown at its line, then the fixed script saves', async () => {
    await page.getByRole('button', { name: 'New inbound webhook' }).click();
    await page.getByLabel('Provider').fill('shop');
    await page.getByRole('checkbox', { name: /billing\.cancel/ }).check();
    // billing.notify needs billing.cancel: checked without it, it says why it cannot run.
    await page.getByRole('checkbox', { name: /billing\.notify/ }).check();
    await page.getByRole('checkbox', { name: /billing\.cancel/ }).uncheck();
    await page.getByText('Unavailable: needs billing.cancel, which this webhook does not allow').waitFor();
    await page.getByRole('checkbox', { name: /billing\.cancel/ }).check();
    await expect.poll(() => page.getByText(/Unavailable: needs billing\.cancel/).count()).toBe(0);

    const editor = page.locator('.cm-content');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(BROKEN_SCRIPT);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByTestId('compile-error').filter({ hasText: 'Line 2' }).waitFor();
    await page.locator('.cm-lintRange-error').first().waitFor();
    await page.locator('.cm-gutter-lint .cm-lint-marker-error').first().waitFor();
    expect(await te.api('GET', '/webhooks').then((r) => r.body.items.length)).toBe(0);

    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(SCRIPT);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByRole('heading', { name: 'Inbound webhook “shop”' }).waitFor();
    const saved = (await te.api('GET', '/webhooks')).body.items[0];
    expect(saved).toMatchObject({ provider: 'shop', allowedActions: ['billing.cancel', 'billing.notify'], jsScript: SCRIPT });
    // The editor highlights JavaScript and numbers its lines.
    expect(await page.locator('.cm-lineNumbers .cm-gutterElement').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('.cm-content span[class^="ͼ"], .cm-content span[class*=" ͼ"]').count()).toBeGreaterThan(0);
  });

  it('tries the script on a sample payload: result, console and stub action calls, nothing real runs', async () => {
    await page.getByLabel('Payload (JSON)').fill(JSON.stringify({ type: 'customer.subscription.deleted', data: { object: { id: 'sub_9' } } }));
    await page.getByRole('button', { name: 'Run' }).click();
    const output = page.getByTestId('dry-run-output');
    await output.getByTestId('dry-run-result').waitFor();
    expect(await page.getByTestId('dry-run-result').textContent()).toContain('subscription.cancelled');
    expect(await page.getByTestId('dry-run-calls').textContent()).toContain('billing.cancel');
    expect(await page.getByTestId('dry-run-calls').textContent()).toContain('"sub_9"');
    expect(await output.textContent()).toContain('cancelling sub_9');
    expect(await page.getByTestId('dry-run-duration').textContent()).toMatch(/\d+ ms/);
    expect(te.calls).toEqual([]);
    await shot('editor');
    // A second save keeps the first as a version that loads back into the editor.
    await page.locator('.cm-content').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('\n// v2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const versions = page.getByLabel('Load a saved version');
    await versions.waitFor();
    expect(await page.locator('.cm-content').textContent()).toContain('// v2');
    await versions.selectOption({ label: (await versions.locator('option').last().textContent())! });
    await expect.poll(() => page.locator('.cm-content').textContent()).not.toContain('// v2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved.').first().waitFor();
  });

  it('switches an action off in the Control tab and shows the cascade to the action that depends on it', async () => {
    await tab('Control').click();
    const cancel = page.getByRole('switch', { name: /billing\.cancel/ });
    await cancel.waitFor();
    expect(await cancel.getAttribute('aria-checked')).toBe('true');
    await cancel.click();
    await expect.poll(() => page.getByRole('switch', { name: /billing\.cancel/ }).getAttribute('aria-checked')).toBe('false');
    const notify = page.locator('li.action[data-id="billing.notify"]');
    await notify.getByTestId('unavailable-reason').waitFor();
    expect(await notify.getByTestId('unavailable-reason').textContent()).toContain('billing.cancel');
    expect(await notify.getAttribute('class')).toContain('cascaded');
    // Still switched on itself: the cascade is about availability, not its own switch.
    expect(await page.getByRole('switch', { name: /billing\.notify/ }).getAttribute('aria-checked')).toBe('true');
    expect((await te.api('GET', '/settings')).body.enabledWebhookActions).toEqual(['billing.notify', 'crm.tag']);
    await shot('control');
    // Keyboard: the switch is a button; Space turns it back on.
    await page.getByRole('switch', { name: /billing\.cancel/ }).focus();
    await page.keyboard.press('Space');
    await expect.poll(() => page.getByRole('switch', { name: /billing\.cancel/ }).getAttribute('aria-checked')).toBe('true');
    await expect.poll(() => notify.getByTestId('unavailable-reason').count()).toBe(0);
  });

  it('creates an outgoing webhook: the secret is shown once; a test ping reaches the receiver', async () => {
    await tab('Webhooks').click();
    await page.getByRole('button', { name: 'New outgoing webhook' }).click();
    await page.getByLabel('URL').fill(receiverUrl);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const secret = page.getByTestId('secret-once');
    await secret.waitFor();
    expect(await secret.inputValue()).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'Send test ping' }).click();
    await page.getByTestId('ping-result').filter({ hasText: 'HTTP 200' }).waitFor();
    // Opened again, it shows only the prefix.
    await page.getByRole('button', { name: '← All webhooks' }).click();
    await page.getByRole('button', { name: `Edit ${receiverUrl}` }).click();
    await page.getByRole('heading', { name: 'Outgoing webhook' }).waitFor();
    expect(await page.getByTestId('secret-once').count()).toBe(0);
    expect(await page.getByText(/whsec_.*…/).count()).toBe(1);
    await page.getByRole('button', { name: '← All webhooks' }).click();
    await page.getByRole('table', { name: 'Webhooks' }).waitFor();
  });

  it('saves only what the admin changed: an endpoint switched off meanwhile stays off, and says why', async () => {
    // A second endpoint that answers 410: the engine disables it.
    const gone = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(410).end());
    });
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    try {
      const goneUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/gone`;
      await tab('Webhooks').click();
      await page.getByRole('button', { name: 'New outgoing webhook' }).click();
      await page.getByLabel('URL').fill(goneUrl);
      // Nothing chosen is not quietly "every event".
      await page.getByLabel('Events', { exact: true }).fill('');
      await page.getByRole('button', { name: 'Create webhook' }).dblclick();
      await page.getByRole('alert').filter({ hasText: 'Choose at least one event' }).waitFor();
      await page.getByLabel('Events', { exact: true }).fill('ui.gone');
      // A double click creates one endpoint.
      await page.getByRole('button', { name: 'Create webhook' }).dblclick();
      await page.getByTestId('secret-once').waitFor();
      const mine = async () => (await te.api('GET', '/webhooks?direction=outgoing')).body.items.filter((w: { url: string }) => w.url === goneUrl);
      expect(await mine()).toHaveLength(1);
      const [hook] = await mine();

      // The form stays open while the engine disables the endpoint (410)…
      await te.engine.emit('ui.gone', {});
      await waitFor(async () => ((await te.api('GET', `/webhooks/${hook.id}`)).body.isActive === false ? true : undefined), 10_000, 'the endpoint to be disabled');
      // …and the admin, on the stale form, changes only the retries.
      await page.getByLabel('Max retries').fill('5');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByTestId('health-notice').filter({ hasText: '410 Gone' }).waitFor();
      expect((await te.api('GET', `/webhooks/${hook.id}`)).body).toMatchObject({ isActive: false, maxRetries: 5, health: { disabledReason: 'gone' } });
      await page.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('table', { name: 'Webhooks' }).waitFor();
    } finally {
      await new Promise<void>((resolve) => gone.close(() => resolve()));
    }
  });

  it('finds a real inbound request’s run, with its console and action calls', async () => {
    const sent = await te.inbound('shop', { type: 'customer.subscription.deleted', data: { object: { id: 'sub_real' } } });
    expect(sent.status).toBe(200);
    const runId: string = sent.body.runId;
    await waitFor(async () => ((await te.api('GET', `/runs/${runId}`)).status === 200 ? true : undefined), 10_000, 'the run record');
    await tab('Runs & deliveries').click();
    const row = page.locator(`tr[data-id="${runId}"]`);
    await row.waitFor();
    await row.getByRole('button', { name: /Details/ }).click();
    const detail = page.getByTestId('run-detail');
    await detail.waitFor();
    expect(await detail.textContent()).toContain(runId);
    const panel = page.getByRole('region', { name: 'Details' });
    expect(await panel.textContent()).toContain('cancelling sub_real');
    expect(await panel.textContent()).toContain('billing.cancel');
    // The payload as the sender posted it, from the stored request.
    expect(JSON.parse((await page.getByTestId('run-payload').textContent()) ?? '')).toEqual({ type: 'customer.subscription.deleted', data: { object: { id: 'sub_real' } } });
    expect(te.calls).toContainEqual({ id: 'billing.cancel', args: ['sub_real'] });
    // Replay re-runs the stored request with real actions, as a new run that names the one it replays.
    await panel.getByRole('button', { name: 'Replay' }).click();
    await page.getByTestId('run-detail').filter({ hasText: `Replay of${runId}` }).waitFor();
    expect(te.calls.filter((c) => c.id === 'billing.cancel' && c.args[0] === 'sub_real')).toHaveLength(2);
    await page.getByRole('button', { name: 'Close' }).click();
    // Filters narrow the table; the charts draw bars.
    await page.getByLabel('Run status').selectOption('error');
    await expect.poll(() => page.locator(`tr[data-id="${runId}"]`).count()).toBe(0);
    await page.getByLabel('Run status').selectOption('');
    await row.waitFor();
    expect(await page.locator('svg.chart rect').count()).toBeGreaterThan(0);
    await shot('activity');
  });

  it('shows a tenant member only what a member may do', async () => {
    const created = await te.api('POST', '/keys', { role: 'member', tenantId: 'acme', name: 'acme reader' });
    expect(created.status).toBe(201);
    const member = await context.browser()!.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      const p = await member.newPage();
      p.setDefaultTimeout(7_000);
      const errors: string[] = [];
      // Finding the role probes platform-only routes: their 403s are expected, nothing else is.
      p.on('console', (m) => {
        if (m.type() === 'error' && !/status of 403/.test(m.text())) errors.push(m.text());
      });
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(`${te.baseUrl}/admin/`);
      await p.getByLabel('API key').fill(created.body.key);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Webhooks' }).waitFor();
      expect(await p.getByTestId('identity').textContent()).toContain('member');
      expect(await p.getByRole('button', { name: /New (inbound|outgoing) webhook/ }).count()).toBe(0);
      // The platform's webhooks are not the tenant's: its list is empty.
      await p.getByText('No webhooks yet.', { exact: false }).waitFor();
      await p.getByRole('tab', { name: 'Control' }).click();
      const sw = p.getByRole('switch', { name: /billing\.cancel/ });
      await sw.waitFor();
      expect(await sw.isDisabled()).toBe(true);
      await p.getByRole('tab', { name: 'Runs & deliveries' }).click();
      await p.getByRole('heading', { name: /^Deliveries/ }).waitFor();
      expect(await p.getByRole('heading', { name: /^Runs \(/ }).isVisible()).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      await member.close();
    }
  });

  it('follows a link typed or pasted into the address bar, and Back', async () => {
    await tab('Webhooks').click();
    await page.getByRole('table', { name: 'Webhooks' }).waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#activity';
    });
    await page.getByRole('heading', { name: 'Runs and deliveries' }).waitFor();
    expect(await tab('Runs & deliveries').getAttribute('aria-selected')).toBe('true');
    await page.goBack();
    await page.getByRole('table', { name: 'Webhooks' }).waitFor();
    expect(await tab('Webhooks').getAttribute('aria-selected')).toBe('true');
    // A link to a delivery that does not exist keeps the tab and says why.
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = '#activity/delivery:00000000-0000-4000-8000-000000000000';
    });
    await page.getByRole('alert').filter({ hasText: /No delivery with id/ }).waitFor();
    await page.getByRole('heading', { name: 'Runs and deliveries' }).waitFor();
    await page.getByRole('group', { name: 'Filters' }).waitFor();
  });

  it('fits a phone-width screen without horizontal scrolling', async () => {
    await tab('Webhooks').click();
    await page.getByRole('table', { name: 'Webhooks' }).getByText('succeeded').first().waitFor();
    await shot('webhooks');
    await page.setViewportSize({ width: 390, height: 844 });
    await tab('Webhooks').click();
    await page.getByRole('button', { name: 'New inbound webhook' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await shot('phone');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('logged no console error and no page error (CSP violations included)', () => {
    expect(problems).toEqual([]);
  });
});
