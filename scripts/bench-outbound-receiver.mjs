// The receiving side of `npm run bench:outbound`: BENCH_RECEIVERS plain node:http servers on loopback, in a
// process of their own so they do not share the engine's event loop. Each answers 204 once the body is
// read. Requests to /hook/* are webhook deliveries: the arrival time minus the envelope's `timestamp`
// (set when the event was emitted) is the emit→delivered latency. Requests to /bare are the baseline.
// Speaks over IPC: sends {ports} once listening; answers {cmd: 'reset'} and {cmd: 'stats'}.
import http from 'node:http';

const count = Number(process.env.BENCH_RECEIVERS ?? 4);

let latencies = [];
let seen = new Set();
let duplicates = 0;
let bare = 0;
let firstAt = 0;
let lastAt = 0;

function onRequest(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    // Parsed either way, so that a bare POST costs the receiver what a delivery does.
    const envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (req.url === '/bare') {
      bare += 1;
    } else {
      const id = req.headers['webhook-id'];
      if (seen.has(id)) duplicates += 1;
      else {
        seen.add(id);
        latencies.push(now - Date.parse(envelope.timestamp));
        if (firstAt === 0) firstAt = now;
        lastAt = now;
      }
    }
    res.writeHead(204).end();
  });
}

const servers = await Promise.all(
  Array.from({ length: count }, () => new Promise((resolve) => {
    const server = http.createServer(onRequest);
    server.listen(0, '127.0.0.1', () => resolve(server));
  })),
);

process.on('message', (msg) => {
  if (msg.cmd === 'reset') {
    latencies = [];
    seen = new Set();
    duplicates = 0;
    bare = 0;
    firstAt = 0;
    lastAt = 0;
    process.send({ ok: true });
  } else if (msg.cmd === 'stats') {
    // Latencies only when asked for (they can be long lists).
    process.send({ delivered: seen.size, duplicates, bare, firstAt, lastAt, ...(msg.latencies ? { latencies } : {}) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ports: servers.map((s) => s.address().port) });
