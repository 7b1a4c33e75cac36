import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type Response } from 'express';

/**
 * The admin UI's server side: `GET /admin` answers the page, `/admin/assets/*` the bundle that
 * `npm run build` (scripts/build-ui.mjs) writes into `dist/ui`. Everything is local — the page works
 * without internet — and served under a strict Content-Security-Policy: scripts and styles only from
 * this origin, no inline script, no framing, API calls only to this origin.
 */
export interface AdminUiOptions {
  /** The folder holding `index.html` and `assets/` (default: `dist/ui` of this package). */
  assetsDir?: string;
}

/** No inline script, no inline style element without the nonce, nothing from another origin. */
export function adminUiCsp(styleNonce: string): string {
  return [
  "default-src 'none'",
  "script-src 'self'",
  // CodeMirror injects its theme as a <style> element: allowed with this response's nonce only.
  `style-src 'self' 'nonce-${styleNonce}'`,
  // Style attributes (CodeMirror sets tab-size and scroll padding with them) cannot run code.
  "style-src-attr 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  ].join('; ');
}

/** `dist/ui` of the hookgate package, found from this file both as source (src/admin) and built (dist/src/admin). */
export function defaultUiAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'ui');
    dir = dirname(dir);
  }
  return resolve('dist', 'ui');
}

function secure(res: Response, styleNonce = randomBytes(16).toString('base64')): void {
  res.setHeader('Content-Security-Policy', adminUiCsp(styleNonce));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
}

/**
 * Mount at `/admin`, before `/admin/api` is reached by nothing else: it answers only `/`, `/index.html`
 * and `/assets/*`, and passes everything else on. The page itself holds no secret; every call it makes
 * carries the signed-in key as a bearer token, checked by the admin API.
 */
export function createAdminUiRouter(options: AdminUiOptions = {}): Router {
  const root = options.assetsDir ?? defaultUiAssetsDir();
  const router = Router();
  let page: string | null = null;

  const sendPage = (res: Response): void => {
    const nonce = randomBytes(16).toString('base64');
    secure(res, nonce);
    page ??= existsSync(join(root, 'index.html')) ? readFileSync(join(root, 'index.html'), 'utf8') : null;
    res.setHeader('Cache-Control', 'no-store');
    if (page === null) {
      res.status(503).type('text/plain').send('The admin UI is not built: run `npm run build` (it writes dist/ui).\n');
      return;
    }
    // The page reads the nonce from a meta tag and hands it to CodeMirror (EditorView.cspNonce).
    res.type('html').send(page.replace('{{CSP_NONCE}}', nonce));
  };

  router.get(['/', '/index.html'], (req, res, next) => {
    // `/admin` without the slash: relative asset URLs must resolve under /admin/.
    if (req.originalUrl.split('?')[0] === req.baseUrl && req.baseUrl !== '') {
      res.redirect(301, `${req.baseUrl}/`);
      return;
    }
    if (req.path === '/' || req.path === '/index.html') sendPage(res);
    else next();
  });
  router.use(
    '/assets',
    (_req, res, next) => {
      secure(res);
      next();
    },
    express.static(join(root, 'assets'), { index: false, maxAge: 0, etag: true }),
  );
  return router;
}
