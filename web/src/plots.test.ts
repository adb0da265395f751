import { describe, expect, it } from "vitest";
import { barChart, esc, histogram, lineChart, meter, niceMax, tickCount } from "./plots";

describe("plots", () => {
  it("rounds axis maxima to 1, 2 or 5 × 10^n", () => {
    expect(niceMax(0.7)).toBe(1);
    expect(niceMax(130)).toBe(200);
    expect(niceMax(4200)).toBe(5000);
  });

  it("draws one bar per value, scaled to the axis, with escaped labels", () => {
    const svg = barChart(
      [
        { label: "<360p>", value: 10 },
        { label: "720p", value: 20 },
      ],
      { label: "time per rendition", height: 220 },
    );
    expect(svg.match(/<rect /g)).toHaveLength(2);
    expect(svg).toContain("&lt;360p&gt;");
    expect(svg).not.toContain("<360p>");
    // 20 is the axis maximum: its bar spans the whole inner height (220-12-34).
    expect(svg).toContain('height="174"');
  });

  it("labels small counts once per unit, never 0, 0, 1, 1", () => {
    const svg = barChart([{ label: "a", value: 1 }], { label: "plays", integer: true });
    const ticks = [...svg.matchAll(/class="tick">(\d+)</g)].map((m) => m[1]);
    expect(ticks).toEqual(["0", "1"]);
    expect(tickCount(3, true)).toBe(3);
    expect(tickCount(3, false)).toBe(4);
  });

  it("says so when there is nothing to draw", () => {
    expect(barChart([], { label: "x" })).toContain("no data yet");
    expect(lineChart([], { label: "x", fmtT: String })).toContain("no data yet");
  });

  it("buckets a distribution", () => {
    const bars = histogram([100, 120, 450, 900], 5, (v) => `${v}`);
    expect(bars.map((b) => b.value)).toEqual([2, 0, 1, 0, 1]);
  });

  it("colours a rebuffer ratio by its thresholds", () => {
    expect(meter(0.001, { label: "r", good: 0.01, bad: 0.05 })).toContain("fill good");
    expect(meter(0.2, { label: "r", good: 0.01, bad: 0.05 })).toContain("fill bad");
    expect(esc(`"a"&'b'`)).toBe("&quot;a&quot;&amp;&#39;b&#39;");
  });
});
