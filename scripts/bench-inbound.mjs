// `npm run bench:inbound`: throughput and latency of POST /tools/webhook/:provider (a script that calls one
// action) next to a plain Express handler that parses the same JSON, measured in the same run, alternating
// the two so machine noise hits both. Prints figures and the ratio. Options (env):
//   BENCH_SECONDS (default 8 per round), BENCH_ROUNDS (2), BENCH_CONNECTIONS (20), BENCH_DATABASE_URL (embedded if unset),
//   BENCH_SCRIPT (action = the target's one-action script; noaction; ignored = no sandbox run; see bench-server.mjs)
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { postInbound } from './bench-kit.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);

async function startServer(mode) {
  const child = spawn(process.execPath, ['scripts/bench-server.mjs'], { env: { ...process.env, BENCH_MODE: mode }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${JSON.parse(line).port}/tools/webhook/bench` };
}

function load(url, c, duration) {
  return postInbound(url, { connections: c, duration });
}

function summary(r) {
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
}

const servers = { express: await startServer('express'), engine: await startServer('engine') };
const results = { express: [], engine: [] };
try {
  for (const mode of ['express', 'engine']) await load(servers[mode].url, connections, 2); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const mode of ['express', 'engine']) {
      const r = summary(await load(servers[mode].url, connections, seconds));
      results[mode].push(r);
      console.log(`round ${round + 1} ${mode.padEnd(7)} c=${connections}: ${r.rps.toFixed(0)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  errors ${r.errors}`);
    }
  }
  const low = {};
  for (const mode of ['express', 'engine']) {
    low[mode] = summary(await load(servers[mode].url, 1, Math.max(3, seconds / 2)));
    console.log(`low load ${mode.padEnd(7)} c=1: ${low[mode].rps.toFixed(0)} req/s  p50 ${low[mode].p50} ms  p99 ${low[mode].p99} ms`);
  }
  const mean = (list, key) => list.reduce((s, r) => s + r[key], 0) / list.length;
  const ratio = mean(results.engine, 'rps') / mean(results.express, 'rps');
  console.log('');
  console.log(`express  ${mean(results.express, 'rps').toFixed(0)} req/s   engine ${mean(results.engine, 'rps').toFixed(0)} req/s   (c=${connections}, mean of ${rounds} rounds)`);
  console.log(`ratio engine/express: ${ratio.toFixed(2)}x   (script: ${process.env.BENCH_SCRIPT ?? 'action'}; target >= 0.40x for action)`);
  console.log(`engine p50 at c=1: ${low.engine.p50} ms   (target < 2 ms); express p50 at c=1: ${low.express.p50} ms`);
  const errors = [...results.engine, ...results.express].reduce((s, r) => s + r.errors, 0);
  if (errors > 0) console.log(`errors: ${errors}`);
} finally {
  for (const { child } of Object.values(servers)) child.kill('SIGTERM');
}
