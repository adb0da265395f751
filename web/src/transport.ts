// The HTTP side of resumable uploads (uploader.ts's Transport) over XHR.
import type { SessionInfo, SessionProgress, Transport } from "./uploader";

/** What the transport needs of the app: the user's token, ingest's address, a token refresh. */
export interface TransportDeps {
  authHeaders(): Promise<Record<string, string>>;
  ingestURL(path: string): string;
  refresh(): Promise<boolean>;
}

/** xhrTransport talks to ingest; XHR (not fetch) because it reports upload progress. */
export function xhrTransport(d: TransportDeps): Transport {
  const send = async <T>(method: string, path: string, body: Blob | string | null, onProgress?: (n: number) => void, signal?: AbortSignal, retried = false): Promise<T> => {
    const headers = await d.authHeaders();
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, d.ingestURL(path));
      for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
      if (typeof body === "string") x.setRequestHeader("Content-Type", "application/json");
      else if (body) x.setRequestHeader("Content-Type", "application/octet-stream");
      if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
      x.onload = () => resolve({ status: x.status, text: x.responseText });
      x.onerror = () => reject(Object.assign(new Error("network error: ingest is unreachable"), { status: 0 }));
      x.onabort = () => reject(Object.assign(new Error("cancelled"), { status: 0 }));
      signal?.addEventListener("abort", () => x.abort());
      x.send(body);
    });
    if (r.status === 401 && !retried) {
      if (await d.refresh()) return send(method, path, body, onProgress, signal, true);
    }
    let parsed: any = null;
    try {
      parsed = r.text ? JSON.parse(r.text) : null;
    } catch {
      /* not JSON */
    }
    if (r.status < 200 || r.status >= 300) {
      const msg = parsed?.error ?? (r.text.trim() || `HTTP ${r.status}`);
      throw Object.assign(new Error(r.status === 401 ? "your session has ended: sign in again" : msg), { status: r.status });
    }
    return parsed as T;
  };
  // Sessions whose parts go straight to storage (ingest on S3): each part is
  // PUT to the presigned URL ingest hands out, without our credentials.
  const direct = new Set<string>();
  const note = <T extends { id: string; direct?: boolean } | null>(sess: T): T => {
    if (sess?.direct) direct.add(sess.id);
    return sess;
  };
  return {
    create: async (u) => note(await send<SessionInfo>("POST", "/v1/uploads", JSON.stringify(u))),
    status: async (id) => {
      try {
        return note(await send<SessionProgress>("GET", `/v1/uploads/${encodeURIComponent(id)}`, null));
      } catch (e) {
        if ((e as { status?: number }).status === 404) return null;
        throw e;
      }
    },
    putPart: async (id, n, blob, onProgress, signal) => {
      const part = `/v1/uploads/${encodeURIComponent(id)}/parts/${n}`;
      if (!direct.has(id)) return send("PUT", part, blob, onProgress, signal);
      const u = await send<{ url: string }>("GET", `${part}/url`, null, undefined, signal);
      await putToStorage(u.url, blob, onProgress, signal);
    },
    complete: (id) => send("POST", `/v1/uploads/${encodeURIComponent(id)}/complete`, null),
    abort: async (id) => {
      await send("DELETE", `/v1/uploads/${encodeURIComponent(id)}`, null).catch(() => undefined);
    },
  };
}

/** putToStorage PUTs a part to a presigned storage URL (the bucket's CORS must allow it). */
function putToStorage(url: string, body: Blob, onProgress: (n: number) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () =>
      x.status >= 200 && x.status < 300
        ? resolve()
        : reject(Object.assign(new Error(`storage refused the part (HTTP ${x.status})`), { status: x.status >= 500 ? x.status : 0 }));
    x.onerror = () => reject(Object.assign(new Error("network error: storage is unreachable"), { status: 0 }));
    x.onabort = () => reject(Object.assign(new Error("cancelled"), { status: 0 }));
    signal.addEventListener("abort", () => x.abort());
    x.send(body);
  });
}

