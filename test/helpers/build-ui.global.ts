import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * vitest global setup: builds the admin UI bundle into dist/ui (esbuild, ~1 s), so the engine under test
 * serves the current ui/ sources — the browser tests never see a stale or missing bundle.
 */
export default function setup(): void {
  const script = fileURLToPath(new URL('../../scripts/build-ui.mjs', import.meta.url));
  execFileSync(process.execPath, [script], { stdio: 'inherit' });
}
