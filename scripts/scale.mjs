// `npm run scale`: how throughput changes with the number of engine processes on one PostgreSQL (docs/deployment.md).
//
// For each N in SCALE_PROCESSES (default 1,2,4), N engine processes (scripts/load-server.mjs) share one fresh
// schema, as N stateless instances behind a load balancer would; the load generator spreads its connections
// evenly over them (what a round-robin balancer does). Each inbound request runs a script that calls an action
// and emits an event delivered to SCALE_RECEIVERS loopback endpoints (default 2) from the shared queue, so the
// processes also share the outgoing work. Reports, per N: inbound req/s, latency p50/p99, deliveries/s (every
// delivery caused by the measured requests, until the last one arrives) and duplicates, with the speed-up over N=1.
//
// Options (env): SCALE_SECONDS (default 10 per N), SCALE_CONNECTIONS (default 32), SCALE_DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/test; each N works in a schema of its own, dropped at the end).
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import os from 'node:os';
import { sleep, startReceivers, sumMetric } from './bench-kit.mjs';

const counts = (process.env.SCALE_PROCESSES ?? '1,2,4').split(',').map(Number);
const seconds = Number(process.env.SCALE_SECONDS ?? 10);
const connections = Number(process.env.SCALE_CONNECTIONS ?? 32);
const receiverCount = Number(process.env.SCALE_RECEIVERS ?? 2);
const databaseUrl = process.env.SCALE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN_TOKEN = 'load-admin-token-0123456789abcdef';

const receiver = await startReceivers(receiverCount);
const { ports, ask } = receiver;

const live = new Set();
function startServer(schema, setup) {
  const child = spawn(process.execPath, [new URL('./load-server.mjs', import.meta.url).pathname], {
    env: { ...process.env, LOAD_DATABASE_URL: databaseUrl, LOAD_SCHEMA: schema, LOAD_SETUP: setup ? '1' : '0', LOAD_DROP_SCHEMA: setup ? '1' : '0', LOAD_RECEIVER_PORTS: ports.join(','), LOAD_ADMIN_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve({ child, url: `http://127.0.0.1:${JSON.parse(line).port}/tools/webhook/load` }));
    child.once('exit', (code) => reject(new Error(`an engine process exited with ${code}`)));
  });
}
async function stop(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { for (const child of live) child.kill('SIGTERM'); receiver.kill(); process.exit(130); });

let sent = 0;
function fire(url, c, duration) {
  return new Promise((resolve, reject) => {
    autocannon({
      url, method: 'POST', connections: c, duration,
      headers: { 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ id: `ord_${++sent}`, n: sent, amount: 1234 }) }) }],
    }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Runs that ended ok over all processes: each emitted one event, so this times the receivers is the deliveries due. */
async function runsOk(servers) {
  let total = 0;
  for (const { url } of servers) {
    const text = await (await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    total += sumMetric(text, 'hookgate_script_duration_seconds_count', (line) => line.includes('status="ok"'));
  }
  return total;
}

console.log(`hookgate scaling: ${counts.join(' → ')} engine processes on one PostgreSQL, ${connections} connections, ${seconds} s each, ${receiverCount} endpoints, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
const rows = [];
try {
  for (const n of counts) {
    const schema = `hookgate_scale_${process.pid}_${n}`;
    const servers = [await startServer(schema, true)];
    servers.push(...(await Promise.all(Array.from({ length: n - 1 }, () => startServer(schema, false)))));
    const split = (i) => Math.floor(connections / n) + (i < connections % n ? 1 : 0);
    await Promise.all(servers.map((s, i) => fire(s.url, split(i), 2))); // warm-up
    await sleep(500); // requests still in flight when the load generator stopped counting
    const warm = await runsOk(servers);
    while ((await ask({ cmd: 'stats' })).delivered < warm * receiverCount) await sleep(100);
    await ask({ cmd: 'reset' });
    const t0 = Date.now();
    const results = await Promise.all(servers.map((s, i) => fire(s.url, split(i), seconds)));
    const inboundSeconds = (Date.now() - t0) / 1000;
    await sleep(500);
    const expected = ((await runsOk(servers)) - warm) * receiverCount;
    const deadline = Date.now() + 120_000;
    let stats = await ask({ cmd: 'stats' });
    while (stats.delivered < expected && Date.now() < deadline) {
      await sleep(100);
      stats = await ask({ cmd: 'stats' });
    }
    const requests = results.reduce((s, r) => s + r.requests.total, 0);
    const row = {
      processes: n,
      rps: requests / inboundSeconds,
      p50: Math.max(...results.map((r) => r.latency.p50)),
      p99: Math.max(...results.map((r) => r.latency.p99)),
      errors: results.reduce((s, r) => s + r.errors + r.non2xx + r.timeouts, 0),
      deliveries: stats.delivered,
      expected,
      deliveriesPerSecond: stats.delivered / ((stats.lastAt - t0) / 1000),
      duplicates: stats.duplicates,
    };
    rows.push(row);
    console.log(`${n} process${n > 1 ? 'es' : ''}: inbound ${row.rps.toFixed(0)} req/s (p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.errors}); ` +
      `outgoing ${row.deliveries}/${row.expected} delivered at ${row.deliveriesPerSecond.toFixed(0)}/s, duplicates ${row.duplicates}`);
    for (const s of servers.slice(1)) await stop(s.child);
    await stop(servers[0].child);
  }
} finally {
  for (const child of live) await stop(child);
  receiver.kill();
}
console.log('');
console.log('processes  inbound req/s  speed-up  p50 ms  p99 ms  deliveries/s  speed-up  duplicates');
for (const row of rows) {
  console.log(`${String(row.processes).padStart(9)}  ${row.rps.toFixed(0).padStart(13)}  ${(row.rps / rows[0].rps).toFixed(2).padStart(7)}x  ${String(row.p50).padStart(6)}  ${String(row.p99).padStart(6)}  ` +
    `${row.deliveriesPerSecond.toFixed(0).padStart(12)}  ${(row.deliveriesPerSecond / rows[0].deliveriesPerSecond).toFixed(2).padStart(7)}x  ${String(row.duplicates).padStart(10)}`);
}
