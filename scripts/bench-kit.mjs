// Pieces shared by the benchmark and load scripts (bench-outbound.mjs, load.mjs, scale.mjs, and the
// inbound ones: bench-inbound.mjs, cpu-per-request.mjs, gc-per-request.mjs).
import autocannon from 'autocannon';
import { fork } from 'node:child_process';

/** The JSON body the inbound benchmarks post (a Stripe-like event; the scripts read `id`). */
export const INBOUND_PAYLOAD = JSON.stringify({ id: 'evt_1', type: 'customer.subscription.deleted', data: { object: { id: 'sub_1', customer: 'cus_1', items: [1, 2, 3] } } });

/**
 * Posts INBOUND_PAYLOAD to `url` with autocannon, `connections` at a time, for `duration` seconds or
 * `amount` requests; resolves with autocannon's result.
 */
export function postInbound(url, { connections, duration, amount }) {
  const length = amount === undefined ? { duration } : { amount };
  return new Promise((resolve, reject) => {
    autocannon({ url, method: 'POST', connections, ...length, headers: { 'content-type': 'application/json' }, body: INBOUND_PAYLOAD }, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/**
 * Starts `count` loopback receivers in a child process (scripts/bench-outbound-receiver.mjs) and returns their
 * ports, `ask` (send a command, resolve with its answer: `{cmd: 'reset'}`, `{cmd: 'stats', latencies?}`) and `kill`.
 */
export async function startReceivers(count) {
  const child = fork(new URL('./bench-outbound-receiver.mjs', import.meta.url), [], { env: { ...process.env, BENCH_RECEIVERS: String(count) } });
  // The receiver answers in order, so each reply goes to the oldest waiting ask.
  const replies = [];
  child.on('message', (msg) => replies.shift()?.(msg));
  const { ports } = await new Promise((resolve) => replies.push(resolve));
  const ask = (msg) => new Promise((resolve) => { replies.push(resolve); child.send(msg); });
  return { ports, ask, kill: () => child.kill() };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `q` quantile of an ascending list (NaN when empty). */
export const percentile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);

/** The sum of metric `name`'s samples in Prometheus text `text`, over the lines `filter` keeps (labels are in the line). */
export function sumMetric(text, name, filter = () => true) {
  return text.split('\n')
    .filter((l) => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{') && filter(l))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
