import { describe, expect, it, vi } from "vitest";
import { ladderMode, modeName, perShotPrediction, predictionText, savings, sibling } from "./report";

vi.stubGlobal("location", { href: "http://127.0.0.1:8080/assets/x" });

describe("report", () => {
  it("finds files beside the manifest and keeps a signed URL's query", () => {
    expect(sibling("http://cdn/media/o/a/j/master.m3u8", "report.svg")).toBe("http://cdn/media/o/a/j/report.svg");
    expect(sibling("http://cdn/media/o/a/j/master.m3u8?exp=1&sig=abc", "static/master.m3u8")).toBe("http://cdn/media/o/a/j/static/master.m3u8?exp=1&sig=abc");
    expect(sibling("/media/a/master.m3u8", "report.json")).toBe("http://127.0.0.1:8080/media/a/report.json");
  });

  it("reads savings in Go or snake_case spelling", () => {
    expect(savings({ Savings: { BDRate: -23.5, StorageSaved: 0.31 } })).toMatchObject({ bdRate: -23.5, storageSaved: 0.31 });
    expect(savings({ savings: { bd_rate_percent: -10, streaming_cost_saved_bytes_per_hour: 1e9, bd_rate_error: "" } })).toMatchObject({ bdRate: -10, streamingCostSavedPerHour: 1e9 });
    expect(savings({})).toBeNull();
  });

  it("names the ladder mode the catalog gives, else the report's", () => {
    expect(ladderMode("pershot", null)).toBe("pershot");
    expect(ladderMode("static", { savings: {} })).toBe("static");
    expect(ladderMode(undefined, { shots: [{ start_seconds: 0 }], savings: {} })).toBe("pershot");
    expect(ladderMode(undefined, { mode: "pershot", savings: {} })).toBe("pershot");
    expect(ladderMode(undefined, { savings: {} })).toBe("pertitle");
    expect(ladderMode("<img>", null)).toBe("");
    expect(ladderMode(undefined, null)).toBe("");
    expect(modeName("pershot")).toBe("Per-shot");
    expect(modeName("pertitle")).toBe("Per-title");
    expect(modeName("")).toBe("");
  });

  it("reads a per-shot report's prediction against per-title, and words it", () => {
    expect(perShotPrediction({ mode: "pershot", per_title_bd_rate_percent: -4.2 })).toEqual({ bdRate: -4.2 });
    expect(perShotPrediction({ mode: "pershot", per_title_bd_rate_percent: 0, per_title_bd_rate_error: "too few points" })).toEqual({ error: "too few points" });
    expect(perShotPrediction({ mode: "pershot" })).toEqual({ error: "the report has no prediction" });
    expect(perShotPrediction({ savings: {} })).toBeNull();
    expect(perShotPrediction(null)).toBeNull();
    expect(predictionText({ bdRate: -4.25 })).toContain("4.3 % fewer bits than per-title");
    expect(predictionText({ bdRate: 2 })).toContain("2.0 % more bits than per-title");
    expect(predictionText({ error: "too few points" })).toBe("No prediction against per-title: too few points.");
  });
});
