// `npm run load`: inbound and outgoing traffic together through one engine process, for a fixed time, on loopback.
//
// A steady LOAD_RATE requests/s (default 200) go to POST /tools/webhook/load; its script calls one action and
// emits `load.order`, which fans out to LOAD_RECEIVERS loopback endpoints (default 2) as signed deliveries from
// the durable queue. Every LOAD_SAMPLE_SECONDS (default 10) the memory of the engine process and its sandbox
// child (RSS from /proc, V8 heap from /metrics) and the delivery queue depth are sampled. At the end it waits
// for the queue to drain and reports: inbound throughput, latency percentiles and errors; deliveries expected,
// received, duplicated and their emit→delivered latency; memory over time with its trend (least-squares slope
// over the second half of the run, when warm-up growth is over). Exits 1 when anything was lost or failed.
//
// Options (env): LOAD_SECONDS (default 60; the soak in docs/performance.md is LOAD_SECONDS=600),
// LOAD_RATE, LOAD_CONNECTIONS (default 10), LOAD_RECEIVERS, LOAD_SAMPLE_SECONDS,
// LOAD_DATABASE_URL (PostgreSQL, in a schema of its own that is dropped at the end; PGlite when unset),
// LOAD_REPORT (write the report as JSON to this file).
import autocannon from 'autocannon';
import { spawn, execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import { percentile, sleep, startReceivers, sumMetric } from './bench-kit.mjs';

const seconds = Number(process.env.LOAD_SECONDS ?? 60);
const rate = Number(process.env.LOAD_RATE ?? 200);
const connections = Number(process.env.LOAD_CONNECTIONS ?? 10);
const receiverCount = Number(process.env.LOAD_RECEIVERS ?? 2);
const sampleSeconds = Number(process.env.LOAD_SAMPLE_SECONDS ?? 10);
const databaseUrl = process.env.LOAD_DATABASE_URL ?? '';
const ADMIN_TOKEN = 'load-admin-token-0123456789abcdef';

const mb = (bytes) => bytes / 1024 / 1024;

// ---- receivers (a process of their own: they count deliveries, duplicates and emit→delivered latency) ----
const receiver = await startReceivers(receiverCount);
const { ports, ask } = receiver;

// ---- the engine process --------------------------------------------------------------------------------
const schema = `hookgate_load_${process.pid}`;
const server = spawn(process.execPath, [new URL('./load-server.mjs', import.meta.url).pathname], {
  env: { ...process.env, LOAD_DATABASE_URL: databaseUrl, LOAD_SCHEMA: schema, LOAD_SETUP: '1', LOAD_DROP_SCHEMA: '1', LOAD_RECEIVER_PORTS: ports.join(','), LOAD_ADMIN_TOKEN: ADMIN_TOKEN },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const { port, pid } = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once('line', (line) => resolve(JSON.parse(line)));
  server.once('exit', (code) => reject(new Error(`the engine process exited with ${code}`)));
});
const base = `http://127.0.0.1:${port}`;

async function stopServer() {
  if (server.exitCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void stopServer().finally(() => { receiver.kill(); process.exit(130); }));

/** RSS in bytes of a process, from /proc (0 when it is gone). */
function rssOf(processId) {
  try {
    const line = readFileSync(`/proc/${processId}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line.split(/\s+/)[1]) * 1024;
  } catch {
    return 0;
  }
}
const childrenOf = (processId) => execSync(`pgrep -P ${processId} || true`).toString().trim().split('\n').filter(Boolean).map(Number);

/** The engine's Prometheus figures this run reads (sums over labels). */
async function metrics() {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const sum = (name, filter) => sumMetric(text, name, filter);
  return {
    heapUsed: sum('nodejs_heap_size_used_bytes'),
    queueDepth: sum('hookgate_delivery_queue_depth'),
    oldestPendingAge: sum('hookgate_delivery_oldest_pending_age_seconds'),
    deliveriesFailed: sum('hookgate_deliveries_total', (l) => l.includes('outcome="failed"')),
    deliveriesRetried: sum('hookgate_deliveries_total', (l) => l.includes('outcome="retry"')),
    scriptErrors: sum('hookgate_script_duration_seconds_count', (l) => !l.includes('status="ok"')),
    runsOk: sum('hookgate_script_duration_seconds_count', (l) => l.includes('status="ok"')),
  };
}

// ---- traffic -------------------------------------------------------------------------------------------
console.log(`hookgate load: ${rate} inbound req/s for ${seconds} s, ${receiverCount} outgoing endpoints, ${connections} connections, ` +
  `${databaseUrl ? 'PostgreSQL' : 'PGlite'}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
await ask({ cmd: 'reset' });
const latencies = [];
const statuses = new Map();
let socketErrors = 0;
let sent = 0;
const samples = [];
const t0 = Date.now();

async function sample() {
  const m = await metrics().catch(() => null);
  const sandboxPids = childrenOf(pid);
  const delivered = (await ask({ cmd: 'stats' })).delivered;
  const row = {
    t: Math.round((Date.now() - t0) / 1000),
    rss: rssOf(pid),
    sandboxRss: sandboxPids.reduce((s, p) => s + rssOf(p), 0),
    heapUsed: m?.heapUsed ?? NaN,
    queueDepth: m?.queueDepth ?? NaN,
    answered: latencies.length,
    delivered,
  };
  samples.push(row);
  console.log(`  t=${String(row.t).padStart(4)} s  answered ${String(row.answered).padStart(7)}  delivered ${String(row.delivered).padStart(7)}  queue ${String(row.queueDepth).padStart(5)}  ` +
    `engine RSS ${mb(row.rss).toFixed(1)} MB (heap ${mb(row.heapUsed).toFixed(1)} MB)  sandbox RSS ${mb(row.sandboxRss).toFixed(1)} MB`);
}

await sample();
const sampler = setInterval(() => void sample(), sampleSeconds * 1000);
const result = await new Promise((resolve, reject) => {
  const instance = autocannon({
    url: `${base}/tools/webhook/load`,
    method: 'POST',
    connections,
    overallRate: rate,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    // Each request a distinct order, so every emitted event is its own message.
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ id: `ord_${++sent}`, n: sent, amount: 1234, currency: 'EUR', items: [{ sku: 'sku_1', qty: 2 }] }) }) }],
  }, (err, res) => (err ? reject(err) : resolve(res)));
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    latencies.push(responseTime);
    statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
  });
  instance.on('reqError', () => socketErrors++);
});
clearInterval(sampler);
const trafficSeconds = (Date.now() - t0) / 1000;

// ---- drain and check -----------------------------------------------------------------------------------
// Every run that ended ok emitted one event, so the engine's own count of them gives the deliveries to expect
// (it includes requests the load generator gave up on when it stopped, which the engine still ran).
await sleep(1000);
const expected = (await metrics()).runsOk * receiverCount;
const drainStart = Date.now();
let stats = await ask({ cmd: 'stats' });
while (stats.delivered < expected && Date.now() - drainStart < 120_000) {
  await sleep(250);
  stats = await ask({ cmd: 'stats' });
}
const drainSeconds = (Date.now() - drainStart) / 1000;
await sample();
const finalMetrics = await metrics();
const finalStats = await ask({ cmd: 'stats', latencies: true });
await stopServer();
receiver.kill();

// ---- report --------------------------------------------------------------------------------------------
const sortedIn = latencies.map((ms) => Math.round(ms * 10) / 10).sort((a, b) => a - b);
const sortedOut = finalStats.latencies.sort((a, b) => a - b);
/** Least-squares slope of `key` over the samples from the middle of the run on, in MB per minute. */
function trend(key) {
  const rows = samples.filter((s) => s.t >= seconds / 2 && Number.isFinite(s[key]) && s[key] > 0);
  if (rows.length < 3) return NaN;
  const mx = rows.reduce((s, r) => s + r.t, 0) / rows.length;
  const my = rows.reduce((s, r) => s + r[key], 0) / rows.length;
  const num = rows.reduce((s, r) => s + (r.t - mx) * (r[key] - my), 0);
  const den = rows.reduce((s, r) => s + (r.t - mx) ** 2, 0);
  return mb(num / den) * 60;
}
const non200 = [...statuses].filter(([code]) => code !== 200).reduce((s, [, n]) => s + n, 0);
const report = {
  config: { seconds, rate, connections, receivers: receiverCount, store: databaseUrl ? 'postgresql' : 'pglite', cores: os.cpus().length },
  inbound: {
    answered: latencies.length,
    rps: latencies.length / trafficSeconds,
    p50: percentile(sortedIn, 0.5), p90: percentile(sortedIn, 0.9), p99: percentile(sortedIn, 0.99), max: sortedIn.at(-1),
    statuses: Object.fromEntries(statuses),
    errors: non200 + socketErrors + result.timeouts,
  },
  outgoing: {
    expected,
    delivered: finalStats.delivered,
    duplicates: finalStats.duplicates,
    lost: Math.max(0, expected - finalStats.delivered),
    p50: percentile(sortedOut, 0.5), p99: percentile(sortedOut, 0.99), max: sortedOut.at(-1),
    drainSeconds,
    failed: finalMetrics.deliveriesFailed,
    retried: finalMetrics.deliveriesRetried,
  },
  scriptErrors: finalMetrics.scriptErrors,
  memory: {
    samples,
    rssTrendMbPerMin: trend('rss'),
    heapTrendMbPerMin: trend('heapUsed'),
    sandboxRssTrendMbPerMin: trend('sandboxRss'),
  },
};

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
console.log('');
console.log(`inbound:  ${report.inbound.answered} answered in ${fmt(trafficSeconds)} s = ${fmt(report.inbound.rps, 0)} req/s; latency p50 ${report.inbound.p50} ms  p90 ${report.inbound.p90} ms  p99 ${report.inbound.p99} ms  max ${report.inbound.max} ms; ` +
  `statuses ${JSON.stringify(report.inbound.statuses)}; errors ${report.inbound.errors}`);
console.log(`outgoing: ${report.outgoing.delivered}/${expected} delivered, ${report.outgoing.duplicates} duplicates, ${report.outgoing.lost} lost, ${report.outgoing.failed} failed, ${report.outgoing.retried} retried; ` +
  `emit→delivered p50 ${report.outgoing.p50} ms  p99 ${report.outgoing.p99} ms  max ${report.outgoing.max} ms; drained ${fmt(drainSeconds)} s after the traffic stopped`);
console.log(`scripts:  ${report.scriptErrors} runs not ok`);
console.log(`memory trend over the second half (MB/min): engine RSS ${fmt(report.memory.rssTrendMbPerMin, 2)}, engine heap ${fmt(report.memory.heapTrendMbPerMin, 2)}, sandbox RSS ${fmt(report.memory.sandboxRssTrendMbPerMin, 2)}`);
if (process.env.LOAD_REPORT) writeFileSync(process.env.LOAD_REPORT, `${JSON.stringify(report, null, 2)}\n`);

const problems = [];
if (report.inbound.errors > 0) problems.push(`${report.inbound.errors} inbound errors`);
if (report.outgoing.lost > 0) problems.push(`${report.outgoing.lost} deliveries lost`);
if (report.outgoing.failed > 0) problems.push(`${report.outgoing.failed} deliveries failed`);
if (report.scriptErrors > 0) problems.push(`${report.scriptErrors} script runs not ok`);
console.log(problems.length === 0 ? 'result: no errors, nothing lost' : `result: ${problems.join(', ')}`);
process.exit(problems.length === 0 ? 0 : 1);
