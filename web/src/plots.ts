// Hand-drawn SVG charts, returned as markup so that they are unit-tested without
// a DOM. Every text is escaped; numbers are rounded to keep the markup small.

export interface Bar {
  label: string;
  value: number;
  title?: string;
}

const W = 560;
const PAD = { l: 48, r: 12, t: 12, b: 34 };

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/** niceMax rounds a maximum up to 1, 2 or 5 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function frame(height: number, body: string, label: string): string {
  return `<svg class="plot" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">${body}</svg>`;
}

/** ticks: 4 intervals, or one per unit when a small count would repeat labels. */
export function tickCount(max: number, integer: boolean): number {
  return integer && max < 4 ? Math.max(1, Math.round(max)) : 4;
}

function yAxis(max: number, height: number, fmt: (v: number) => string, integer = false): string {
  const ih = height - PAD.t - PAD.b;
  const n = tickCount(max, integer);
  let s = "";
  for (let i = 0; i <= n; i++) {
    const v = (max * i) / n;
    const y = r1(PAD.t + ih - (ih * i) / n);
    s += `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" class="grid"/>`;
    s += `<text x="${PAD.l - 6}" y="${y + 4}" text-anchor="end" class="tick">${esc(fmt(v))}</text>`;
  }
  return s;
}

/** barChart draws vertical bars (histograms, per-rendition totals). */
export function barChart(bars: Bar[], opts: { height?: number; fmt?: (v: number) => string; label: string; integer?: boolean }): string {
  const height = opts.height ?? 220;
  const fmt = opts.fmt ?? ((v: number) => String(r1(v)));
  if (bars.length === 0) return frame(60, `<text x="${W / 2}" y="34" text-anchor="middle" class="empty">no data yet</text>`, opts.label);
  const max = niceMax(Math.max(...bars.map((b) => b.value)));
  const iw = W - PAD.l - PAD.r;
  const ih = height - PAD.t - PAD.b;
  const slot = iw / bars.length;
  const bw = Math.max(2, Math.min(slot * 0.7, 90));
  let s = yAxis(max, height, fmt, opts.integer);
  bars.forEach((b, i) => {
    const bh = (ih * b.value) / max;
    const x = r1(PAD.l + i * slot + (slot - bw) / 2);
    s += `<rect x="${x}" y="${r1(PAD.t + ih - bh)}" width="${r1(bw)}" height="${r1(bh)}" class="bar"><title>${esc(b.title ?? `${b.label}: ${fmt(b.value)}`)}</title></rect>`;
    if (bars.length <= 16 || i % Math.ceil(bars.length / 12) === 0) {
      s += `<text x="${r1(PAD.l + i * slot + slot / 2)}" y="${height - PAD.b + 16}" text-anchor="middle" class="tick">${esc(b.label)}</text>`;
    }
  });
  return frame(height, s, opts.label);
}

/** lineChart draws a series over time (plays per hour or day). */
export function lineChart(points: { t: number; v: number }[], opts: { height?: number; label: string; fmtT: (t: number) => string }): string {
  const height = opts.height ?? 200;
  if (points.length === 0) return frame(60, `<text x="${W / 2}" y="34" text-anchor="middle" class="empty">no data yet</text>`, opts.label);
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(...points.map((p) => p.t));
  const span = t1 - t0 || 1;
  const max = niceMax(Math.max(...points.map((p) => p.v)));
  const iw = W - PAD.l - PAD.r;
  const ih = height - PAD.t - PAD.b;
  const x = (t: number) => r1(points.length === 1 ? PAD.l + iw / 2 : PAD.l + ((t - t0) / span) * iw);
  const y = (v: number) => r1(PAD.t + ih - (ih * v) / max);
  let s = yAxis(max, height, (v) => String(Math.round(v)), true);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.t)},${y(p.v)}`).join(" ");
  s += `<path d="${path} L${x(points[points.length - 1].t)},${y(0)} L${x(points[0].t)},${y(0)} Z" class="area"/>`;
  s += `<path d="${path}" class="line"/>`;
  for (const p of points) s += `<circle cx="${x(p.t)}" cy="${y(p.v)}" r="3" class="dot"><title>${esc(`${opts.fmtT(p.t)}: ${p.v}`)}</title></circle>`;
  s += `<text x="${PAD.l}" y="${height - 8}" class="tick">${esc(opts.fmtT(t0))}</text>`;
  if (points.length > 1) s += `<text x="${W - PAD.r}" y="${height - 8}" text-anchor="end" class="tick">${esc(opts.fmtT(t1))}</text>`;
  return frame(height, s, opts.label);
}

/** meter draws a ratio (0..1) as a horizontal gauge with thresholds. */
export function meter(ratio: number, opts: { label: string; good: number; bad: number }): string {
  const v = Math.max(0, Math.min(1, isFinite(ratio) ? ratio : 0));
  const scale = niceMax(Math.max(opts.bad * 2, v));
  const iw = W - 24;
  const cls = v <= opts.good ? "good" : v >= opts.bad ? "bad" : "warn";
  const s =
    `<rect x="12" y="14" width="${iw}" height="18" rx="9" class="track"/>` +
    `<rect x="12" y="14" width="${r1(Math.max(2, (v / scale) * iw))}" height="18" rx="9" class="fill ${cls}"/>` +
    `<text x="12" y="52" class="tick">0 %</text><text x="${W - 12}" y="52" text-anchor="end" class="tick">${esc(`${r1(scale * 100)} %`)}</text>`;
  return frame(60, s, opts.label);
}

/** histogram buckets values into n bins between 0 and a nice maximum. */
export function histogram(values: number[], bins: number, fmt: (v: number) => string): Bar[] {
  if (values.length === 0) return [];
  const max = niceMax(Math.max(...values));
  const width = max / bins;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(v / width))]++;
  return counts.map((c, i) => ({ label: fmt(i * width), value: c, title: `${fmt(i * width)}–${fmt((i + 1) * width)}: ${c}` }));
}
