// The per-title and per-shot engines write report.json and report.svg beside
// master.m3u8, and with a static ladder, static/master.m3u8. Their URLs derive from the HLS URL;
// a signed URL's query (a signature over the directory) is carried over.

export function sibling(manifestURL: string, name: string): string {
  const u = new URL(manifestURL, location.href);
  const query = u.search;
  const out = new URL(name, u);
  out.search = query;
  return out.toString();
}

/** pick reads a field whichever way the report spells it (Go names or snake_case). */
export function pick(o: unknown, ...names: string[]): any {
  if (!o || typeof o !== "object") return undefined;
  const rec = o as Record<string, unknown>;
  for (const n of names) if (rec[n] !== undefined && rec[n] !== null) return rec[n];
  return undefined;
}

export interface Savings {
  bdRate?: number; // percent, negative = fewer bits
  bdRateError?: string; // why there is no BD-rate (too few overlapping points)
  perTitleBytes?: number;
  staticBytes?: number;
  storageSaved?: number; // fraction
  capBitrate?: number;
  topBitrateSaved?: number; // fraction
  streamingCostSavedPerHour?: number; // bytes
}

export function savings(report: unknown): Savings | null {
  const s = pick(report, "Savings", "savings");
  if (!s) return null;
  return {
    bdRate: pick(s, "bd_rate_percent", "BDRate", "bd_rate"),
    bdRateError: pick(s, "bd_rate_error", "BDRateError"),
    perTitleBytes: pick(s, "PerTitleBytes", "per_title_bytes"),
    staticBytes: pick(s, "StaticBytes", "static_bytes"),
    storageSaved: pick(s, "StorageSaved", "storage_saved"),
    capBitrate: pick(s, "CapBitrate", "cap_bitrate"),
    topBitrateSaved: pick(s, "TopBitrateSaved", "top_bitrate_saved"),
    streamingCostSavedPerHour: pick(s, "streaming_cost_saved_bytes_per_hour", "StreamingCostSavedPerHour", "streaming_cost_saved_per_hour"),
  };
}

const modeNames: Record<string, string> = { pertitle: "Per-title", pershot: "Per-shot", static: "Static ladder", fixed: "Fixed ladder" };

/**
 * ladderMode is how an asset's ladder was chosen: as the catalog says, else
 * as its report says (a per-shot report names its mode and lists its shots;
 * a per-title one does neither), else unknown ("").
 */
export function ladderMode(assetMode: unknown, report: unknown): string {
  if (typeof assetMode === "string" && assetMode in modeNames) return assetMode;
  if (!report) return "";
  const m = pick(report, "mode");
  if (typeof m === "string" && m in modeNames) return m;
  return pick(report, "shots", "Shots") ? "pershot" : "pertitle";
}

/** modeName names a ladder mode for people: "Per-shot"; "" when unknown. */
export function modeName(mode: string): string {
  return modeNames[mode] ?? "";
}

export interface Prediction {
  bdRate?: number; // percent against per-title, negative = fewer bits
  error?: string; // why there is none
}

/**
 * perShotPrediction is a per-shot report's own prediction of its BD-rate
 * against per-title on the same analysis; null for any other report.
 */
export function perShotPrediction(report: unknown): Prediction | null {
  if (pick(report, "mode") !== "pershot") return null;
  const bd = pick(report, "per_title_bd_rate_percent", "PerTitleBDRate");
  const error = pick(report, "per_title_bd_rate_error", "PerTitleBDRateError");
  if (typeof error === "string" && error !== "") return { error };
  return typeof bd === "number" && Number.isFinite(bd) ? { bdRate: bd } : { error: "the report has no prediction" };
}

/** predictionText words a prediction for the asset page. */
export function predictionText(p: Prediction): string {
  if (p.bdRate === undefined) return `No prediction against per-title: ${p.error ?? "unknown"}.`;
  const pct = `${Math.abs(p.bdRate).toFixed(1)} %`;
  const how = p.bdRate <= 0 ? `${pct} fewer bits` : `${pct} more bits`;
  return `Predicted from this title's analysis: ${how} than per-title for the same quality (BD-rate). A prediction, not a measurement: encode the title both ways to measure it.`;
}
