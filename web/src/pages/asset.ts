import * as api from "../api";
import { Beacon } from "../beacon";
import { attach, type Player } from "../player";
import { ladderMode, modeName, perShotPrediction, predictionText, savings as readSavings, sibling, type Prediction, type Savings } from "../report";
import { errorText, formatBitrate, formatBytes, formatDuration, formatPercent, h, link, statusBadge } from "../ui";
import { progressText } from "../progress";

/** beacon sends one asset's analytics with the beacon token handed out beside its URLs. */
function beacon(a: api.Asset): Beacon | null {
  const token = a.beacon_token as string | undefined;
  if (!token) return null; // the catalog does not collect analytics
  return new Beacon(api.catalogURL(`/v1/analytics/events?token=${encodeURIComponent(token)}`));
}

export function assetPage(root: HTMLElement, params: Record<string, string>): () => void {
  const id = params.id;
  const players: Player[] = [];
  let timer: number | undefined;
  let stopped = false;
  const section = h("section", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  root.append(section);

  const load = async () => {
    try {
      const a = await api.getAsset(id);
      if (stopped) return;
      if (a.status !== "ready") {
        renderPending(section, a);
        if (a.status !== "failed") timer = window.setTimeout(load, 1000);
        return;
      }
      await renderReady(root, section, a, players);
    } catch (e) {
      section.replaceChildren(h("h1", {}, "Video"), h("p", { class: "error-text", role: "alert" }, errorText(e)), link("/", "Back to the library"));
    }
  };
  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    players.forEach((p) => p.destroy());
  };
}

function header(a: api.Asset): HTMLElement {
  return h(
    "div",
    { class: "asset-head" },
    h("h1", { "data-testid": "asset-title" }, a.title || a.id),
    h(
      "div",
      { class: "facts" },
      statusBadge(a.status, a.progress?.percent),
      h("span", {}, formatDuration(a.duration_seconds)),
      a.width ? h("span", {}, `source ${a.width}×${a.height}`) : null,
      h("span", {}, formatBytes(a.source_bytes)),
      a.status === "ready" && modeName(a.ladder_mode ?? "") ? h("span", { "data-testid": "ladder-mode", title: "How the ladder was chosen" }, modeName(a.ladder_mode ?? "")) : null,
      a.status === "ready" ? link(`/analytics/${a.id}`, "Analytics") : null,
    ),
  );
}

function renderPending(section: HTMLElement, a: api.Asset): void {
  const children: (HTMLElement | null)[] = [header(a)];
  if (a.status === "failed") {
    children.push(h("p", { class: "error-text", role: "alert" }, `Encoding failed: ${a.error || "unknown error"}`));
  } else {
    const pct = a.progress?.percent ?? 0;
    children.push(
      h("progress", { class: "wide", max: 100, value: pct }),
      h("p", { class: "muted" }, a.status === "uploaded" ? "Waiting for an encoder…" : progressText(a.progress)),
    );
  }
  section.replaceChildren(...children.filter((c): c is HTMLElement => c !== null));
}

/** playlist reports whether url is an HLS playlist (the static ladder's master). */
async function playlist(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { cache: "no-cache" });
    return r.ok && (await r.text()).startsWith("#EXTM3U");
  } catch {
    return false;
  }
}

/**
 * svgImage fetches the report's SVG and returns a blob: URL typed image/svg+xml,
 * so that it shows whatever Content-Type the media server or CDN gives it, and,
 * drawn by an <img>, can never run script.
 */
async function svgImage(url: string): Promise<string | null> {
  try {
    const r = await fetch(url, { cache: "no-cache" });
    if (!r.ok) return null;
    const text = await r.text();
    if (!text.includes("<svg")) return null;
    return URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  } catch {
    return null;
  }
}

async function renderReady(root: HTMLElement, section: HTMLElement, a: api.Asset, players: Player[]): Promise<void> {
  const hlsURL = a.hls_url!;
  const video = h("video", { id: "player", controls: true, playsinline: true, preload: "metadata", crossorigin: "anonymous" });
  const select = h("select", { id: "rendition", "aria-label": "Rendition" }, h("option", { value: "-1" }, "Auto"));
  const now = h("span", { class: "muted", id: "now-playing" });
  section.replaceChildren(
    header(a),
    h("div", { class: "player-wrap" }, video),
    h("div", { class: "row controls" }, h("label", {}, "Rendition ", select), now, h("span", { class: "spacer" }), h("a", { href: hlsURL, target: "_blank", rel: "noopener" }, "HLS"), a.dash_url ? h("a", { href: a.dash_url, target: "_blank", rel: "noopener" }, "DASH") : null),
  );
  const player = await attach(video, hlsURL, a.id, beacon(a));
  players.push(player);
  player.onChange(() => {
    if (select.options.length === 1 && player.levels().length > 0) {
      player.levels().forEach((l) => select.append(h("option", { value: String(l.index) }, `${l.height}p · ${formatBitrate(l.bitrate)}`)));
    }
    const l = player.currentLevel();
    now.textContent = l ? `playing ${l.width}×${l.height} at ${formatBitrate(l.bitrate)}` : "";
  });
  select.addEventListener("change", () => player.setLevel(Number(select.value)));

  root.append(ladderTable(a));

  // Report and static-ladder comparison, when the engine wrote them.
  const reportSVG = (a.report_svg_url as string | undefined) ?? sibling(hlsURL, "report.svg");
  const reportJSON = (a.report_url as string | undefined) ?? sibling(hlsURL, "report.json");
  const staticURL = (a.static_hls_url as string | undefined) ?? sibling(hlsURL, "static/master.m3u8");
  const [svg, report, hasStatic] = await Promise.all([
    svgImage(reportSVG),
    fetch(reportJSON).then((r) => (r.ok ? r.json() : null)).catch(() => null),
    playlist(staticURL),
  ]);
  if (!section.isConnected) return;
  const mode = ladderMode(a.ladder_mode, report);
  if (svg) root.append(reportCard(svg, mode, perShotPrediction(report)));
  if (hasStatic) root.append(await comparison(a, hlsURL, staticURL, readSavings(report), players, modeName(mode) || "Per-title"));
}

/** reportCard shows the engine's report.svg, saying what a per-shot one adds and, for per-shot, its predicted BD-rate against per-title. */
function reportCard(svg: string, mode: string, prediction: Prediction | null): HTMLElement {
  const perShot = mode === "pershot";
  const img = h("img", { class: "report", src: svg, alt: `rate-quality plot of this title${perShot ? " and its per-shot CRFs" : ""}`, "data-testid": "report-svg" });
  img.addEventListener("load", () => URL.revokeObjectURL(svg), { once: true });
  const what = perShot
    ? "Per-shot ladder: quality of every encode the analysis measured, the convex hull over them and the ladder chosen on it, then each rung's CRF shot by shot."
    : "Quality of every encode the analysis measured, the convex hull over them, and the ladder chosen on it.";
  const predicted = perShot && prediction ? h("p", { "data-testid": "pershot-prediction" }, predictionText(prediction)) : null;
  return h("section", { class: "card", "data-mode": mode }, h("h2", {}, perShot ? "Rate–quality, shot by shot" : "Rate–quality"), h("p", { class: "muted" }, what), predicted, img);
}

/** change words a saved fraction: 0.3 → "30 % saved", -0.2 → "20 % more". */
function change(fraction: number, saved: string, more: string): string {
  return `${formatPercent(Math.abs(fraction))} ${fraction >= 0 ? saved : more}`;
}

function ladderTable(a: api.Asset): HTMLElement {
  const rows = [...(a.renditions ?? [])].sort((x, y) => y.height - x.height || y.bitrate - x.bitrate);
  // The best metric the renditions were scored with: VMAF, then SSIM, then PSNR.
  const measured = new Set(rows.flatMap((r) => (r.quality ?? []).map((q) => q.metric)));
  const metric = ["vmaf", "ssim", "psnr"].find((m) => measured.has(m)) ?? [...measured][0];
  const table = h(
    "table",
    { class: "ladder", id: "ladder" },
    h("thead", {}, h("tr", {}, h("th", {}, "Resolution"), h("th", {}, "Average bitrate"), h("th", {}, "Peak bitrate"), h("th", {}, "Size"), h("th", {}, metric ? `Quality (${metric.toUpperCase()})` : "Quality"), h("th", {}, "Codec"))),
  );
  const body = h("tbody");
  for (const r of rows) {
    const q = r.quality?.find((x) => x.metric === metric);
    body.append(
      h("tr", {}, h("td", {}, `${r.width}×${r.height}`), h("td", {}, formatBitrate(r.average_bitrate || r.bitrate)), h("td", {}, formatBitrate(r.bitrate)), h("td", {}, formatBytes(r.bytes)), h("td", {}, q ? q.value.toFixed(q.value > 1 ? 1 : 3) : "–"), h("td", { class: "muted" }, r.codecs || r.codec)),
    );
  }
  table.append(body);
  const total = rows.reduce((s, r) => s + (r.bytes || 0), 0);
  return h("section", { class: "card" }, h("h2", {}, `Ladder: ${rows.length} renditions, ${formatBytes(total)}`), table);
}

async function comparison(a: api.Asset, perTitleURL: string, staticURL: string, s: Savings | null, players: Player[], mode: string): Promise<HTMLElement> {
  const left = h("video", { controls: true, muted: true, playsinline: true, crossorigin: "anonymous" });
  const right = h("video", { controls: true, muted: true, playsinline: true, crossorigin: "anonymous" });
  const lInfo = h("span", { class: "muted" });
  const rInfo = h("span", { class: "muted" });
  // The comparison's plays are not the title's audience: no analytics here.
  const pl = await attach(left, perTitleURL, a.id, null);
  const pr = await attach(right, staticURL, a.id, null);
  players.push(pl, pr);
  const show = (p: Player, el: HTMLElement) => () => {
    const l = p.currentLevel();
    el.textContent = l ? `${l.height}p at ${formatBitrate(l.bitrate)}` : "";
  };
  pl.onChange(show(pl, lInfo));
  pr.onChange(show(pr, rInfo));
  const both = h("button", {
    onclick: () => {
      right.currentTime = left.currentTime;
      void left.play();
      void right.play();
    },
  }, "Play both");
  const stats = h("dl", { class: "savings", "data-testid": "savings" });
  const stat = (k: string, v: string) => stats.append(h("div", {}, h("dt", {}, k), h("dd", {}, v)));
  if (s) {
    if (s.storageSaved !== undefined) stat("Storage", `${change(s.storageSaved, "saved", "more")}: ${formatBytes(s.perTitleBytes ?? NaN)} against ${formatBytes(s.staticBytes ?? NaN)}`);
    if (s.bdRate !== undefined && !s.bdRateError) stat("Bits for equal quality (BD-rate)", `${s.bdRate > 0 ? "+" : ""}${s.bdRate.toFixed(1)} %`);
    else if (s.bdRateError) stat("Bits for equal quality (BD-rate)", `not measurable: ${s.bdRateError}`);
    if (s.topBitrateSaved !== undefined) stat(`Top rung for a ${formatBitrate(s.capBitrate ?? NaN)} viewer`, change(s.topBitrateSaved, "fewer bits", "more bits"));
    if (s.streamingCostSavedPerHour !== undefined) {
      const v = s.streamingCostSavedPerHour;
      stat("Streaming cost for that viewer", `${formatBytes(Math.abs(v))} ${v >= 0 ? "saved" : "more"} per viewing hour`);
    }
  } else {
    stat("Savings", "report.json has no savings");
  }
  return h(
    "section",
    { class: "card" },
    h("div", { class: "row" }, h("h2", {}, `${mode} against the static ladder (two-pass)`), h("span", { class: "spacer" }), both),
    stats,
    h("div", { class: "compare" }, h("figure", {}, left, h("figcaption", {}, h("strong", {}, `${mode} `), lInfo)), h("figure", {}, right, h("figcaption", {}, h("strong", {}, "Static (Apple bitrates, two-pass) "), rInfo))),
  );
}
