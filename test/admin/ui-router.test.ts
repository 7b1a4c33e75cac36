import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminUiRouter } from '../../src/admin/index.js';

/** The admin UI's server side alone: page, assets, CSP with a fresh style nonce, and a missing bundle. */
describe('admin UI router', () => {
  const servers: { close(): void }[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  async function serve(assetsDir: string): Promise<string> {
    const app = express();
    app.use('/admin', createAdminUiRouter({ assetsDir }));
    app.use((_req, res) => res.status(404).end());
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((r) => server.once('listening', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  function bundle(): string {
    const dir = mkdtempSync(join(tmpdir(), 'hg-ui-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<meta name="csp-nonce" content="{{CSP_NONCE}}"><script type="module" src="assets/app.js"></script>');
    writeFileSync(join(dir, 'assets', 'app.js'), 'export {};');
    return dir;
  }

  it('serves the page with a new style nonce per response, in the CSP and the page alike', async () => {
    const base = await serve(bundle());
    const nonces = [];
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${base}/admin/`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy')!;
      const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
      expect(nonce).toBeTruthy();
      expect(await res.text()).toContain(`content="${nonce}"`);
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      nonces.push(nonce);
    }
    expect(nonces[0]).not.toBe(nonces[1]);
    const js = await fetch(`${base}/admin/assets/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect(js.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await fetch(`${base}/admin/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/admin/assets/../index.html`)).status).not.toBe(500);
    expect((await fetch(`${base}/admin/other`)).status).toBe(404);
  });

  it('says how to build the bundle when it is missing', async () => {
    const base = await serve(mkdtempSync(join(tmpdir(), 'hg-ui-empty-')));
    const res = await fetch(`${base}/admin/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build');
  });
});
