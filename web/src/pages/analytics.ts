import * as api from "../api";
import { barChart, histogram, lineChart, meter } from "../plots";
import { errorText, formatBitrate, formatBytes, formatDuration, formatMs, formatPercent, h, link } from "../ui";

// GET /v1/analytics/summary and /v1/analytics/assets/{id} (catalog analytics).
interface Report {
  assets?: number;
  plays: number;
  unique_viewers: number;
  median_startup_ms: number;
  startup_ms?: number[]; // per-play startup times, when the catalog lists them
  watched_seconds: number;
  stall_seconds: number;
  rebuffer_ratio: number;
  avg_delivered_bitrate: number;
  bytes_downloaded: number;
  time_per_rendition: { width: number; height: number; bitrate: number; seconds: number }[];
  errors: { code: string; count: number }[];
  timeline: { t: string; plays: number; stalls: number }[];
}

const REFRESH_MS = 5000;

export function analyticsPage(root: HTMLElement, params: Record<string, string>): () => void {
  const id = params.id;
  const title = h("h1", {}, id ? "Analytics" : "Analytics: all your videos");
  const body = h("div", { id: "analytics" }, h("p", { class: "muted" }, "Loading…"));
  root.append(h("section", { class: "card" }, h("div", { class: "row" }, title, h("span", { class: "spacer" }), id ? link("/analytics", "All videos") : null, id ? link(`/assets/${id}`, "Watch") : null), body));
  let timer: number | undefined;
  let stopped = false;
  let interval = "1h";

  const load = async () => {
    try {
      const q = `?interval=${interval}`;
      const [r, asset] = await Promise.all([
        api.request<Report>(api.catalogURL(id ? `/v1/analytics/assets/${encodeURIComponent(id)}${q}` : `/v1/analytics/summary${q}`)),
        id ? api.getAsset(id).catch(() => null) : Promise.resolve(null),
      ]);
      if (stopped) return;
      if (asset) title.textContent = `Analytics: ${asset.title || asset.id}`;
      render(body, r, interval, (v) => {
        interval = v;
        void load();
      });
    } catch (e) {
      body.replaceChildren(h("p", { class: "error-text", role: "alert" }, errorText(e)));
    }
    if (!stopped) {
      window.clearTimeout(timer);
      timer = window.setTimeout(load, REFRESH_MS);
    }
  };
  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

function stat(label: string, value: string, testid: string): HTMLElement {
  return h("div", { class: "stat" }, h("div", { class: "value", "data-testid": testid }, value), h("div", { class: "label" }, label));
}

function chart(title: string, svg: string, note?: string, extra?: HTMLElement): HTMLElement {
  const fig = h("figure", { class: "chart" }, h("figcaption", { class: "row" }, title, extra ? h("span", { class: "spacer" }) : null, extra));
  const holder = h("div");
  holder.innerHTML = svg; // markup from plots.ts: every text in it is escaped
  fig.append(holder);
  if (note) fig.append(h("p", { class: "muted small" }, note));
  return fig;
}

function render(body: HTMLElement, r: Report, interval: string, setInterval: (v: string) => void): void {
  const stats = h(
    "div",
    { class: "stats" },
    stat("plays", String(r.plays), "plays"),
    stat("median startup", r.plays > 0 && r.median_startup_ms > 0 ? formatMs(r.median_startup_ms) : "–", "startup"),
    stat("rebuffer ratio", r.watched_seconds > 0 ? formatPercent(r.rebuffer_ratio, 2) : "–", "rebuffer"),
    stat("watched", formatDuration(r.watched_seconds), "watched"),
    stat("delivered bitrate", formatBitrate(r.avg_delivered_bitrate), "bitrate"),
    stat("viewers", String(r.unique_viewers), "viewers"),
  );
  if (r.assets !== undefined) stats.append(stat("videos watched", String(r.assets), "assets"));
  stats.append(stat("downloaded", formatBytes(r.bytes_downloaded), "bytes"));

  const startups = r.startup_ms ?? (r.plays > 0 && r.median_startup_ms > 0 ? [r.median_startup_ms] : []);
  const renditions = [...(r.time_per_rendition ?? [])].sort((a, b) => a.bitrate - b.bitrate);
  const timeline = (r.timeline ?? []).map((b) => ({ t: Date.parse(b.t), v: b.plays }));
  const fmtT = (t: number) => new Date(t).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const select = h("select", { "aria-label": "Timeline interval" }, ...["1m", "1h", "24h"].map((v) => h("option", { value: v, selected: v === interval }, `per ${v === "1m" ? "minute" : v === "1h" ? "hour" : "day"}`)));
  select.addEventListener("change", () => setInterval(select.value));

  body.replaceChildren(
    stats,
    h(
      "div",
      { class: "charts" },
      chart(
        "Startup time",
        barChart(histogram(startups, 10, (v) => formatMs(v)), { label: "startup time distribution", fmt: (v) => String(Math.round(v)), integer: true }),
        r.startup_ms ? "plays per startup-time bucket" : `median of ${r.plays} play${r.plays === 1 ? "" : "s"}: ${r.plays ? formatMs(r.median_startup_ms) : "–"}`,
      ),
      chart("Rebuffer ratio", meter(r.rebuffer_ratio, { label: "rebuffer ratio", good: 0.01, bad: 0.05 }), `${formatDuration(r.stall_seconds)} stalled in ${formatDuration(r.watched_seconds)} watched; under 1 % is good, over 5 % hurts`),
      chart(
        "Time per rendition",
        barChart(
          renditions.map((x) => ({ label: x.height ? `${x.height}p ${Math.round(x.bitrate / 1000)}k` : formatBitrate(x.bitrate), value: x.seconds, title: `${x.width}×${x.height} at ${formatBitrate(x.bitrate)}: ${formatDuration(x.seconds)}` })),
          { label: "time per rendition", fmt: (v) => (v < 60 ? `${Math.round(v * 10) / 10} s` : formatDuration(v)) },
        ),
      ),
      chart("Plays", lineChart(timeline, { label: "plays timeline", fmtT }), undefined, select),
    ),
  );
  if (r.errors?.length) body.append(h("section", {}, h("h2", {}, "Errors"), h("ul", { class: "plain" }, ...r.errors.map((e) => h("li", {}, `${e.code}: ${e.count}`)))));
}
