import { h, svg } from './dom.js';

export interface ChartItem {
  createdAt: string;
  status: string;
}

const COLORS: Record<string, string> = {
  ok: '#2e7d32', succeeded: '#2e7d32', error: '#c62828', failed: '#c62828', timeout: '#ef6c00', memory: '#ad1457', limit: '#6a1b9a',
  crashed: '#4e342e', ignored: '#90a4ae', rejected: '#5d4037', pending: '#f9a825', sending: '#1565c0',
};
const colorOf = (s: string): string => COLORS[s] ?? '#607d8b';

/** A stacked bar chart of items per status over time, hand-drawn in SVG (no chart library, no inline style). */
export function statusChart(title: string, items: ChartItem[], buckets = 12, range?: { from: number; to: number }): HTMLElement {
  const times = items.map((i) => Date.parse(i.createdAt));
  const to = range?.to ?? Math.max(Date.now(), ...times);
  const from = range?.from ?? (times.length ? Math.min(...times) : to - 3_600_000);
  const span = Math.max(to - from, 60_000);
  const width = 600, height = 160, pad = 24;
  const counts: Map<string, number>[] = Array.from({ length: buckets }, () => new Map());
  const statuses = new Set<string>();
  items.forEach((item, i) => {
    const t = times[i]!;
    if (t < from || t > to) return;
    const b = Math.min(buckets - 1, Math.floor(((t - from) / span) * buckets));
    counts[b]!.set(item.status, (counts[b]!.get(item.status) ?? 0) + 1);
    statuses.add(item.status);
  });
  const max = Math.max(1, ...counts.map((c) => [...c.values()].reduce((a, b) => a + b, 0)));
  const barW = (width - pad * 2) / buckets;
  const order = [...statuses].sort();
  const bars: SVGElement[] = [];
  counts.forEach((c, b) => {
    let y = height - pad;
    for (const s of order) {
      const n = c.get(s) ?? 0;
      if (!n) continue;
      const hgt = ((height - pad * 2) * n) / max;
      y -= hgt;
      const at = new Date(from + (span * b) / buckets).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
      bars.push(svg('rect', { x: pad + b * barW + 2, y, width: Math.max(barW - 4, 1), height: hgt, fill: colorOf(s) }, svg('title', {}, `${s}: ${n} (from ${at})`)));
    }
  });
  const label = (x: number, text: string, anchor: string): SVGElement => svg('text', { x, y: height - 6, 'font-size': 10, 'text-anchor': anchor, fill: '#555' }, text);
  const fmt = (t: number): string => new Date(t).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${items.length} in total`, class: 'chart', preserveAspectRatio: 'none' },
    svg('line', { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: '#999' }),
    svg('text', { x: pad, y: 12, 'font-size': 10, fill: '#555' }, `max ${max} per bar`),
    ...bars,
    label(pad, fmt(from), 'start'),
    label(width - pad, fmt(to), 'end'),
  );
  const legend = h('ul', { class: 'legend' }, order.map((s) => h('li', {}, h('span', { class: `swatch s-${s}`, 'aria-hidden': 'true' }), s)));
  return h('figure', { class: 'chart-box' }, h('figcaption', { text: title }), chart, legend);
}
