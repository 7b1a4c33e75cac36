// Builds the admin UI (ui/) into dist/ui: one JS bundle (CodeMirror included) and one stylesheet, so the
// page works without internet. `npm run build` runs it; the test suite's global setup does too.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds into `outDir` (default dist/ui); resolves with the folder. */
export async function buildUi(outDir = join(root, 'dist', 'ui')) {
  await mkdir(join(outDir, 'assets'), { recursive: true });
  await build({
    entryPoints: { app: join(root, 'ui', 'src', 'main.ts'), app_style: join(root, 'ui', 'src', 'styles.css') },
    entryNames: '[name]',
    outdir: join(outDir, 'assets'),
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  await copyFile(join(root, 'ui', 'index.html'), join(outDir, 'index.html'));
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildUi(process.argv[2]);
  console.log(`admin UI built into ${out}`);
}
