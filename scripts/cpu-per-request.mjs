// CPU per inbound request, by process: starts scripts/bench-server.mjs (BENCH_MODE=engine|express, argv[2]), sends
// 3,000 warm-up requests, then N (env N, default 10000) at c=20, and prints the user+system CPU time each
// process (the server and its sandbox child) spent per request, read from /proc. Less sensitive to other
// tenants' load than req/s. Run after `npm run build`: node scripts/cpu-per-request.mjs engine
// (BENCH_DATABASE_URL=postgres://… for PostgreSQL).
import { spawn, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { postInbound } from './bench-kit.mjs';
const mode = process.argv[2] ?? 'engine';
const n = Number(process.env.N ?? 10000);
const child = spawn(process.execPath, ['scripts/bench-server.mjs'], { env: { ...process.env, BENCH_MODE: mode }, stdio: ['ignore', 'pipe', 'inherit'] });
const line = await new Promise((r) => createInterface({ input: child.stdout }).once('line', r));
const url = `http://127.0.0.1:${JSON.parse(line).port}/tools/webhook/bench`;
const tck = 100;
function cpu() { // µs of user+sys for the server and its descendants, per pid
  const pids = [child.pid, ...execSync(`pgrep -P ${child.pid} || true`).toString().trim().split('\n').filter(Boolean).map(Number)];
  const out = {};
  for (const pid of pids) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); out[pid] = (Number(f[11]) + Number(f[12])) * 1e6 / tck; }
  return out;
}
const fire = (amount) => postInbound(url, { connections: 20, amount });
await fire(3000);
const a = cpu(); const t0 = Date.now();
const r = await fire(n);
const b = cpu();
const parts = Object.keys(b).map((pid) => `${pid === String(child.pid) ? 'main' : 'child ' + pid}: ${((b[pid] - (a[pid] ?? 0)) / n).toFixed(0)} µs/req`);
const total = Object.keys(b).reduce((s, pid) => s + b[pid] - (a[pid] ?? 0), 0) / n;
console.log(`${mode}: ${r.requests.average.toFixed(0)} req/s non2xx ${r.non2xx}; CPU ${total.toFixed(0)} µs/req (${parts.join(', ')}) wall ${Date.now() - t0} ms`);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
