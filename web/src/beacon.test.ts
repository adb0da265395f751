import { describe, expect, it } from "vitest";
import { Beacon, viewerId, type PlayerEvent } from "./beacon";

const ev = (type: PlayerEvent["type"]): PlayerEvent => ({ type, asset_id: "a", session_id: "s", viewer_id: "v", ts: 1 });

describe("Beacon", () => {
  it("sends queued events as one JSON array", async () => {
    const sent: { url: string; body: any }[] = [];
    const blobs: Blob[] = [];
    const b = new Beacon("/v1/analytics/events?token=t", (url, body) => {
      blobs.push(body);
      sent.push({ url, body: null });
      return true;
    });
    b.push(ev("play_start"));
    b.push({ ...ev("startup"), startup_ms: 420 });
    expect(sent).toHaveLength(0);
    b.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0].url).toBe("/v1/analytics/events?token=t");
    expect(blobs[0].type).toBe("application/json");
    const body = JSON.parse(await blobs[0].text());
    expect(body.map((e: PlayerEvent) => e.type)).toEqual(["play_start", "startup"]);
    expect(body[1].startup_ms).toBe(420);
    expect(b.pending()).toBe(0);
  });

  it("keeps events a refused beacon did not deliver, and batches by size", () => {
    let accept = false;
    let calls = 0;
    const b = new Beacon("/x", () => (calls++, accept), 2);
    b.push(ev("heartbeat"));
    b.flush();
    expect(b.pending()).toBe(1);
    accept = true;
    b.push(ev("heartbeat")); // reaches the batch size of 2: sent at once
    expect(b.pending()).toBe(0);
    expect(calls).toBe(2);
  });

  it("keeps one viewer id per browser", () => {
    const m = new Map<string, string>();
    const store = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
    const a = viewerId(store);
    expect(a).toMatch(/^v-[0-9a-f]{24}$/);
    expect(viewerId(store)).toBe(a);
  });
});
