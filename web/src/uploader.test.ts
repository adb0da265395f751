import { describe, expect, it } from "vitest";
import { fingerprint, partRange, rejectReason, savedSessions, Speed, Upload, type Transport } from "./uploader";

class MemStore {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

// A fake ingest that stores parts and can fail after a number of parts.
class FakeIngest implements Transport {
  sessions = new Map<string, { size: number; parts: Map<number, number> }>();
  puts: number[] = [];
  failAfter = Infinity;
  constructor(private partSize: number) {}
  async create(u: { size: number }) {
    const id = `s${this.sessions.size + 1}`;
    this.sessions.set(id, { size: u.size, parts: new Map() });
    return { id, part_size: this.partSize, parts_total: Math.ceil(u.size / this.partSize) };
  }
  async status(id: string) {
    const s = this.sessions.get(id);
    if (!s) return null;
    return { id, part_size: this.partSize, parts_total: Math.ceil(s.size / this.partSize), parts: [...s.parts].map(([n, size]) => ({ n, size })) };
  }
  async putPart(id: string, n: number, body: Blob, onProgress: (n: number) => void) {
    if (this.puts.length >= this.failAfter) throw Object.assign(new Error("connection reset"), { status: 0 });
    this.puts.push(n);
    onProgress(body.size);
    this.sessions.get(id)!.parts.set(n, body.size);
  }
  async complete(id: string) {
    const s = this.sessions.get(id)!;
    const got = [...s.parts.values()].reduce((a, b) => a + b, 0);
    if (got !== s.size) throw new Error(`incomplete: ${got}/${s.size}`);
    return { id: "asset-" + id };
  }
  async abort(id: string) {
    this.sessions.delete(id);
  }
}

function file(size: number, name = "clip.mp4") {
  const blob = new Blob([new Uint8Array(size)]);
  return { name, size, type: "video/mp4", lastModified: 1, slice: (a: number, b: number) => blob.slice(a, b) };
}

describe("partRange", () => {
  it("covers the file with parts of part_size and a short last part", () => {
    expect(partRange(1, 8, 20)).toEqual([0, 8]);
    expect(partRange(3, 8, 20)).toEqual([16, 20]);
  });
});

describe("Upload", () => {
  it("sends every part once, completes, and forgets the session", async () => {
    const ingest = new FakeIngest(10);
    const store = new MemStore();
    const u = new Upload(file(35), "t", ingest, store, { concurrency: 2 });
    const st = await u.run();
    expect(st.phase).toBe("done");
    expect(st.assetId).toBe("asset-s1");
    expect([...ingest.puts].sort()).toEqual([1, 2, 3, 4]);
    expect(st.sent).toBe(35);
    expect(savedSessions(store)).toEqual({});
  });

  it("resumes after a reload from the parts the server confirmed", async () => {
    const ingest = new FakeIngest(10);
    const store = new MemStore();
    ingest.failAfter = 2;
    const first = await new Upload(file(35), "t", ingest, store, { concurrency: 1, retryDelayMs: 1 }).run();
    expect(first.phase).toBe("failed");
    expect(Object.keys(savedSessions(store))).toEqual([fingerprint(file(35))]);

    ingest.failAfter = Infinity;
    ingest.puts = [];
    const second = new Upload(file(35), "t", ingest, store, { concurrency: 1, retryDelayMs: 1 });
    const st = await second.run();
    expect(st.phase).toBe("done");
    expect(st.resumedFrom).toBe(20);
    expect(ingest.puts).toEqual([3, 4]); // parts 1 and 2 are not sent again
    expect(ingest.sessions.size).toBe(1); // no second session
  });

  it("forgets the session of a file the server refuses", async () => {
    const ingest = new FakeIngest(10);
    const store = new MemStore();
    ingest.complete = async () => {
      throw Object.assign(new Error("not a decodable video"), { status: 422 });
    };
    const st = await new Upload(file(15), "t", ingest, store).run();
    expect(st.phase).toBe("failed");
    expect(st.error).toBe("not a decodable video");
    expect(savedSessions(store)).toEqual({});
  });

  it("starts a new session when the saved one has expired", async () => {
    const ingest = new FakeIngest(10);
    const store = new MemStore();
    store.setItem("pertitle.uploads", JSON.stringify({ [fingerprint(file(15))]: { id: "gone" } }));
    const st = await new Upload(file(15), "t", ingest, store).run();
    expect(st.phase).toBe("done");
    expect(ingest.puts.sort()).toEqual([1, 2]);
  });
});

describe("Speed", () => {
  it("measures bytes per second over its window and derives the ETA", () => {
    const s = new Speed(5000);
    s.add(0, 0);
    s.add(1000, 1_000_000);
    s.add(2000, 2_000_000);
    expect(s.bytesPerSecond()).toBe(1_000_000);
    expect(s.eta(3_000_000)).toBe(3);
  });
});

describe("rejectReason", () => {
  it("accepts videos by type or extension and explains refusals", () => {
    expect(rejectReason({ name: "a.mov", size: 5, type: "video/quicktime" })).toBe("");
    expect(rejectReason({ name: "a.mkv", size: 5, type: "" })).toBe("");
    expect(rejectReason({ name: "notes.txt", size: 5, type: "text/plain" })).toMatch(/not a video/);
    expect(rejectReason({ name: "a.mp4", size: 0, type: "video/mp4" })).toMatch(/empty/);
  });
});
