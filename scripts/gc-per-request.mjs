// Young-generation garbage collection per request, by server: runs scripts/bench-server.mjs (BENCH_MODE
// http, express, engine) under --trace-gc-nvp, loads it at c=20 and prints, per 1000 requests, the
// scavenges, their pause on the main thread and the bytes they promoted to the old generation — what
// survives two scavenges, which the old generation's collector then has to mark and sweep. A response
// whose prototype was changed (Express's app.handle does it for every request) promotes most of what it
// allocated; see docs/performance.md. Run after `npm run build`: node scripts/gc-per-request.mjs [modes…]
// Options (env): BENCH_SECONDS (default 6), BENCH_CONNECTIONS (20), and bench-server.mjs's own.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { postInbound } from './bench-kit.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const modes = process.argv.length > 2 ? process.argv.slice(2) : ['http', 'express', 'engine'];

async function measure(mode) {
  const child = spawn(process.execPath, ['--trace-gc-nvp', 'scripts/bench-server.mjs'], { env: { ...process.env, BENCH_MODE: mode }, stdio: ['ignore', 'pipe', 'inherit'] });
  const totals = { scavenges: 0, pauseMs: 0, promoted: 0 };
  let counting = false;
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{"port"')) resolve(JSON.parse(line).port);
      else if (counting && line.includes(' gc=s ')) {
        totals.scavenges++;
        totals.pauseMs += Number(/ pause=([\d.]+)/.exec(line)?.[1] ?? 0);
        totals.promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
      }
    });
  });
  const load = (duration) => postInbound(`http://127.0.0.1:${port}/tools/webhook/bench`, { connections, duration });
  try {
    await load(2); // warm-up
    counting = true;
    const result = await load(seconds);
    counting = false;
    const per1000 = 1000 / result.requests.total;
    console.log(`${mode.padEnd(8)} ${result.requests.average.toFixed(0).padStart(6)} req/s   per 1000 requests: ${(totals.scavenges * per1000).toFixed(1)} scavenges, ${(totals.pauseMs * per1000).toFixed(1)} ms paused, ${(totals.promoted * per1000 / 2 ** 20).toFixed(1)} MB promoted`);
  } finally {
    child.kill('SIGTERM');
  }
}

for (const mode of modes) await measure(mode);
