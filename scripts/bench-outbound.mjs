// `npm run bench:outbound`: outgoing webhooks through the real engine on PostgreSQL, next to the limit —
// bare HTTP POSTs of the same size from this process to the same receivers with the same concurrency.
//
// BENCH_EVENTS events (default 5000) are emitted with `engine.emit()` and fanned out to BENCH_RECEIVERS
// loopback endpoints (default 4), each a node:http server in a child process (scripts/bench-outbound-receiver.mjs).
// Each round measures, alternating so machine noise hits both:
//   - bare:    the same number of POSTs (keep-alive agent, same body size and header set, no signing, no database);
//   - engine:  emit everything as fast as BENCH_EMITTERS concurrent emitters can, until the last delivery
//              arrives: deliveries/s, emit→delivered latency (receiver clock minus the envelope's timestamp), the
//              CPU per delivery, and the share of the round the main thread's event loop was busy and (Linux) the
//              thread waited for a CPU;
//   - paced:   BENCH_PACED_RATE deliveries/s (default 1000) for BENCH_PACED_SECONDS (default 5): latency at that load.
// Works in a schema of its own on DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), dropped at the end.
// Other options (env): BENCH_ROUNDS (2), BENCH_CONCURRENCY (worker concurrency and bare-POST concurrency, 32 = the
// engine's default), BENCH_PER_ENDPOINT (per-endpoint cap, 8 = the default), BENCH_EMITTERS (8), BENCH_SOURCE=1 (import src/ instead of dist/;
// run with `node --import tsx`).
import { percentile, sleep, startReceivers } from './bench-kit.mjs';
import http from 'node:http';
import os from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const events = Number(process.env.BENCH_EVENTS ?? 5000);
const receiverCount = Number(process.env.BENCH_RECEIVERS ?? 4);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const perEndpoint = Number(process.env.BENCH_PER_ENDPOINT ?? 8);
const emitters = Number(process.env.BENCH_EMITTERS ?? 8);
const pacedRate = Number(process.env.BENCH_PACED_RATE ?? 1000);
const pacedSeconds = Number(process.env.BENCH_PACED_SECONDS ?? 5);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const EVENT = 'bench.order.created';

const { createEngine, createLogger, createStore, WebhookSender } = await import(process.env.BENCH_SOURCE === '1' ? '../src/index.ts' : '../dist/src/index.js');

// ---- receivers ---------------------------------------------------------------------------------------
const receiver = await startReceivers(receiverCount);
const { ports, ask } = receiver;

// ---- engine ------------------------------------------------------------------------------------------
const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
const schema = `hookgate_bench_outbound_${process.pid}`;
const store = await createStore({ databaseUrl, schema, logger });
let engine;
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await engine?.close().catch((err) => console.error('engine close failed', err));
  await store.knex.raw('drop schema if exists ?? cascade', [schema]).catch((err) => console.error(`could not drop schema ${schema}`, err));
  await store.close().catch(() => undefined);
  receiver.kill();
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

function order(i) {
  return { orderId: `ord_${String(i).padStart(8, '0')}`, customer: { id: 'cus_4242', email: 'ada@example.com' }, amount: 12_345, currency: 'EUR', items: [{ sku: 'sku_1', qty: 2 }, { sku: 'sku_2', qty: 1 }] };
}

/**
 * CPU time of a local PostgreSQL so far, in ms: its live processes, and the backends that have exited (which
 * the postmaster's children's times hold). 0 when no postgres process is visible (a remote database).
 */
function postgresCpuMs() {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!stat.includes('(postgres)')) continue;
    // Fields after the command: state is field 3; utime, stime, cutime, cstime are fields 14-17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks * 10;
}

/**
 * The ms this process's main thread has so far been runnable but waiting for a CPU (taken by PostgreSQL,
 * the receivers or anything else on the machine). From /proc/self/schedstat; null elsewhere.
 */
function mainThreadWaitMs() {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return null;
  }
}

/** CPU time used so far, in ms: this process, PostgreSQL (when local), and the whole machine (every process: PostgreSQL, receivers, others). */
function cpuNow() {
  const own = process.cpuUsage();
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait, in USER_HZ (100/s).
  const busy = ticks.slice(0, 8).reduce((a, b) => a + b, 0) - ticks[3] - ticks[4];
  return { own: (own.user + own.system) / 1000, postgres: postgresCpuMs(), machine: busy * 10 };
}
function cpuPer(start, count) {
  const end = cpuNow();
  return { ownMs: (end.own - start.own) / count, postgresMs: (end.postgres - start.postgres) / count, machineMs: (end.machine - start.machine) / count };
}

async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}
async function openDeliveries() {
  const [row] = (await store.knex.raw(`select count(*)::int as n from outbound_deliveries where status in ('pending', 'sending')`)).rows;
  return row.n;
}

/** Emits `count` events with `emitters` concurrent callers; waits for every delivery to arrive. */
async function engineRound(count) {
  await ask({ cmd: 'reset' });
  const total = count * receiverCount;
  const cpu = cpuNow();
  const elu = performance.eventLoopUtilization();
  const waited = mainThreadWaitMs();
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: emitters }, async () => {
    while (next < count) {
      const i = next++;
      await engine.emit(EVENT, order(i));
    }
  }));
  const emitMs = Date.now() - t0;
  await until(async () => (await ask({ cmd: 'stats' })).delivered >= total, 300_000, `${total} deliveries`);
  const busy = performance.eventLoopUtilization(elu).utilization;
  const waitedEnd = mainThreadWaitMs();
  // Share of the round the main thread was runnable but had no CPU.
  const starved = waited === null || waitedEnd === null ? null : (waitedEnd - waited) / (Date.now() - t0);
  const stats = await ask({ cmd: 'stats', latencies: true });
  await until(async () => (await openDeliveries()) === 0, 60_000, 'every delivery to be recorded');
  const recordedMs = Date.now() - t0;
  const sorted = stats.latencies.sort((a, b) => a - b);
  return {
    cpu: cpuPer(cpu, total),
    busy,
    starved,
    rate: total / ((stats.lastAt - t0) / 1000),
    emitRate: count / (emitMs / 1000),
    recordedRate: total / (recordedMs / 1000),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    duplicates: stats.duplicates,
  };
}

/** Emits at a steady rate for a while; the latency at that load. */
async function pacedRound(deliveriesPerSecond, seconds) {
  await ask({ cmd: 'reset' });
  const perSecond = deliveriesPerSecond / receiverCount;
  const count = Math.round(perSecond * seconds);
  const t0 = Date.now();
  let emitted = 0;
  const inFlight = new Set();
  while (emitted < count) {
    const due = Math.min(count, Math.floor(((Date.now() - t0) / 1000) * perSecond) + 1);
    while (emitted < due) {
      const p = engine.emit(EVENT, order(emitted++)).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(5);
  }
  await Promise.all(inFlight);
  await until(async () => (await ask({ cmd: 'stats' })).delivered >= count * receiverCount, 120_000, 'paced deliveries');
  const stats = await ask({ cmd: 'stats', latencies: true });
  const sorted = stats.latencies.sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1), duplicates: stats.duplicates };
}

/** The limit: the same number of POSTs of the same size, same concurrency, keep-alive, nothing else. */
async function bareRound(count) {
  await ask({ cmd: 'reset' });
  const agent = new http.Agent({ keepAlive: true });
  const body = Buffer.from(JSON.stringify({ id: randomUUID(), event: EVENT, version: '1', timestamp: new Date().toISOString(), data: order(1), metadata: { tenantId: null } }));
  const secret = WebhookSender.generateSecret();
  const headers = {
    'content-type': 'application/json',
    'content-length': String(body.length),
    'user-agent': 'hookgate-webhooks/1',
    'X-Webhook-Event': EVENT,
    'X-Webhook-Delivery': randomUUID(),
    'X-Webhook-Timestamp': new Date().toISOString(),
    ...WebhookSender.sign({ body: body.toString(), secrets: [secret], webhookId: randomUUID(), timestamp: new Date() }),
  };
  const post = (port) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/bare', method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.once('end', resolve);
    });
    req.once('error', reject);
    req.end(body);
  });
  const cpu = cpuNow();
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await post(ports[next++ % ports.length]);
  }));
  const seconds = (Date.now() - t0) / 1000;
  agent.destroy();
  return { rate: count / seconds, bytes: body.length, cpu: cpuPer(cpu, count) };
}

try {
  await store.migrate();
  engine = createEngine({
    store,
    logger,
    adminToken: 'bench-admin-token-0123456789abcdef',
    onAdminTokenGenerated: () => undefined,
    adminUi: false,
    allowInsecureUrls: true,
    allowPrivateNetworks: true,
    outbound: { worker: { concurrency, perEndpointConcurrency: perEndpoint } },
  });
  await engine.start();
  for (const port of ports) {
    await engine.store.createOutgoingWebhook({ url: `http://127.0.0.1:${port}/hook/${port}`, secret: WebhookSender.generateSecret(), events: [EVENT] });
  }
  console.log(`hookgate outbound benchmark: ${events} events x ${receiverCount} endpoints, worker concurrency ${concurrency} (per endpoint ${perEndpoint}), ${emitters} emitters, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
  await engineRound(Math.min(500, events)); // warm-up: connections, JIT, plans
  // A fresh schema has no planner statistics yet (autovacuum gathers them within a minute or so on a live
  // database); measure the steady state, not the first minute of a brand-new table.
  await store.knex.raw('analyze');
  await bareRound(2000);

  const results = { bare: [], engine: [], paced: [] };
  for (let round = 1; round <= rounds; round++) {
    const bare = await bareRound(events * receiverCount);
    results.bare.push(bare);
    console.log(`round ${round} bare   c=${concurrency}: ${bare.rate.toFixed(0)} POST/s (${bare.bytes} B bodies)  cpu/request: this process ${bare.cpu.ownMs.toFixed(3)} ms, machine ${bare.cpu.machineMs.toFixed(3)} ms`);
    const eng = await engineRound(events);
    results.engine.push(eng);
    console.log(
      `round ${round} engine c=${concurrency}: ${eng.rate.toFixed(0)} deliveries/s  (recorded ${eng.recordedRate.toFixed(0)}/s; emitted ${eng.emitRate.toFixed(0)} events/s)  ` +
        `emit→delivered p50 ${eng.p50} ms  p99 ${eng.p99} ms  duplicates ${eng.duplicates}  ratio ${(eng.rate / bare.rate).toFixed(2)}  ` +
        `main thread: event loop busy ${(eng.busy * 100).toFixed(0)} %${eng.starved === null ? '' : `, waiting for a CPU ${(eng.starved * 100).toFixed(0)} %`}  cpu/delivery: this process ${eng.cpu.ownMs.toFixed(3)} ms, PostgreSQL ${eng.cpu.postgresMs.toFixed(3)} ms, machine ${eng.cpu.machineMs.toFixed(3)} ms`,
    );
    const paced = await pacedRound(pacedRate, pacedSeconds);
    results.paced.push(paced);
    console.log(`round ${round} paced  ${pacedRate} deliveries/s: emit→delivered p50 ${paced.p50} ms  p99 ${paced.p99} ms  max ${paced.max} ms`);
  }
  const mean = (list, key) => list.reduce((s, r) => s + r[key], 0) / list.length;
  const engineRate = mean(results.engine, 'rate');
  const bareRate = mean(results.bare, 'rate');
  console.log('');
  console.log(`bare POST ${bareRate.toFixed(0)}/s   engine ${engineRate.toFixed(0)} deliveries/s   (mean of ${rounds} rounds)`);
  console.log(`ratio engine/bare: ${(engineRate / bareRate).toFixed(2)}   (target >= 0.50); engine >= 1000/s: ${engineRate >= 1000 ? 'yes' : 'no'}`);
  // The CPU budget behind the ratio: at half the bare rate with every core busy, a delivery may cost the machine
  // `budgetMs`. How busy the engine rounds kept the machine tells how much of the gap is cost and how much is idle
  // CPU. A delivery costs at least what its POST does (the client's and the receiver's part, as in the bare round)
  // plus what PostgreSQL spends on it; with nothing else, the ratio could be at most `ceiling`.
  const cores = os.cpus().length;
  const engineCpu = results.engine.map((r) => r.cpu);
  const engineMachineMs = mean(engineCpu, 'machineMs');
  const postgresMs = mean(engineCpu, 'postgresMs');
  const bareMachineMs = mean(results.bare.map((r) => r.cpu), 'machineMs');
  const budgetMs = (cores * 1000) / (0.5 * bareRate);
  console.log(
    `machine CPU per delivery ${engineMachineMs.toFixed(3)} ms (PostgreSQL ${postgresMs.toFixed(3)} ms), per bare POST ${bareMachineMs.toFixed(3)} ms; ` +
      `ratio 0.50 with all ${cores} cores busy allows ${budgetMs.toFixed(3)} ms per delivery`,
  );
  const busyShare = (engineRate * engineMachineMs) / (cores * 1000);
  console.log(
    `the engine rounds kept the machine ${(busyShare * 100).toFixed(0)} % busy; at this cost with all cores busy the ratio would be ` +
      `${((cores * 1000) / engineMachineMs / bareRate).toFixed(2)}`,
  );
  if (postgresMs > 0) {
    const ceiling = (cores * 1000) / (bareMachineMs + postgresMs) / bareRate;
    console.log(`ceiling if this process cost nothing beyond its POSTs (${cores} cores / (bare POST + PostgreSQL per delivery) / bare rate): ratio ${ceiling.toFixed(2)}`);
  }
  console.log(`emit→delivered at ${pacedRate}/s: p50 ${mean(results.paced, 'p50').toFixed(1)} ms  p99 ${mean(results.paced, 'p99').toFixed(1)} ms   (target p50 < 50 ms); saturated: p50 ${mean(results.engine, 'p50').toFixed(1)} ms  p99 ${mean(results.engine, 'p99').toFixed(1)} ms`);
} finally {
  await cleanup();
}
