import { afterEach, describe, expect, it } from "vitest";
import { xhrTransport } from "./transport";

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

// FakeXHR stands in for the browser's XMLHttpRequest: it records each request
// and answers with reply(request).
function installXHR(reply: (r: Sent) => { status: number; text: string }): Sent[] {
  const sent: Sent[] = [];
  class FakeXHR {
    upload: { onprogress?: (e: { loaded: number }) => void } = {};
    onload?: () => void;
    onerror?: () => void;
    onabort?: () => void;
    status = 0;
    responseText = "";
    private r: Sent = { method: "", url: "", headers: {}, body: null };
    open(method: string, url: string) {
      this.r = { method, url, headers: {}, body: null };
    }
    setRequestHeader(k: string, v: string) {
      this.r.headers[k] = v;
    }
    abort() {
      this.onabort?.();
    }
    send(body: unknown) {
      this.r.body = body;
      sent.push(this.r);
      const { status, text } = reply(this.r);
      queueMicrotask(() => {
        this.status = status;
        this.responseText = text;
        this.onload?.();
      });
    }
  }
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = FakeXHR;
  return sent;
}

afterEach(() => {
  delete (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest;
});

const deps = {
  authHeaders: async () => ({ Authorization: "Bearer user-token" }),
  ingestURL: (p: string) => "https://ingest.test" + p,
  refresh: async () => false,
};
const signed = "https://bucket.s3.test/sources/a/source?partNumber=2&uploadId=u&X-Amz-Signature=abc";

describe("xhrTransport", () => {
  it("sends a direct session's parts to the presigned URL, without the user's token", async () => {
    const sent = installXHR((r) => {
      if (r.method === "POST") return { status: 201, text: JSON.stringify({ id: "s1", part_size: 5, parts_total: 2, direct: true }) };
      if (r.url.endsWith("/parts/2/url")) return { status: 200, text: JSON.stringify({ n: 2, url: signed, method: "PUT" }) };
      return { status: 200, text: "" };
    });
    const t = xhrTransport(deps);
    await t.create({ filename: "a.mp4", size: 9, content_type: "video/mp4", title: "" });
    const part = new Blob(["1234"]);
    await t.putPart("s1", 2, part, () => undefined, new AbortController().signal);
    expect(sent.map((r) => `${r.method} ${r.url}`)).toEqual([
      "POST https://ingest.test/v1/uploads",
      "GET https://ingest.test/v1/uploads/s1/parts/2/url",
      `PUT ${signed}`,
    ]);
    expect(sent[1].headers.Authorization).toBe("Bearer user-token");
    expect(sent[2].headers.Authorization).toBeUndefined();
    expect(sent[2].body).toBe(part);
  });

  it("sends the parts of a session through ingest otherwise, with the token", async () => {
    const sent = installXHR((r) =>
      r.method === "GET"
        ? { status: 200, text: JSON.stringify({ id: "s2", part_size: 5, parts_total: 2, parts: [], direct: false }) }
        : { status: 200, text: "{}" },
    );
    const t = xhrTransport(deps);
    await t.status("s2");
    await t.putPart("s2", 1, new Blob(["12345"]), () => undefined, new AbortController().signal);
    expect(`${sent[1].method} ${sent[1].url}`).toBe("PUT https://ingest.test/v1/uploads/s2/parts/1");
    expect(sent[1].headers.Authorization).toBe("Bearer user-token");
  });

  it("makes a part refused by storage (an expired URL) worth a retry with a fresh URL", async () => {
    installXHR((r) => {
      if (r.method === "GET" && r.url.endsWith("/v1/uploads/s3")) return { status: 200, text: JSON.stringify({ id: "s3", direct: true, parts: [] }) };
      if (r.url.endsWith("/url")) return { status: 200, text: JSON.stringify({ url: signed }) };
      return { status: 403, text: "<Error><Code>AccessDenied</Code></Error>" };
    });
    const t = xhrTransport(deps);
    await t.status("s3");
    const err = await t.putPart("s3", 2, new Blob(["x"]), () => undefined, new AbortController().signal).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { status: number }).status).toBe(0); // the uploader retries status 0, never a 4xx
  });
});
