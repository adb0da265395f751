import { describe, expect, it } from "vitest";
import { progressText } from "./progress";

describe("progressText", () => {
  it("says percent and time left of a whole encode", () => {
    expect(progressText({ percent: 42.7, eta_seconds: 90 })).toMatch(/^Encoding: 42 %, about .+ left$/);
  });
  it("counts the chunks and workers of a chunked encode", () => {
    expect(progressText({ percent: 30, eta_seconds: 0, chunks_done: 3, chunks: 10, workers: 2 })).toBe(
      "Encoding: 30 %, 3 of 10 chunks done on 2 workers",
    );
    expect(progressText({ percent: 30, eta_seconds: 0, chunks_done: 0, chunks: 4, workers: 1 })).toBe(
      "Encoding: 30 %, 0 of 4 chunks done on 1 worker",
    );
  });
  it("waits for a report", () => {
    expect(progressText(undefined)).toBe("Encoding: 0 %");
  });
});
