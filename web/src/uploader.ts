// Resumable uploads over ingest's upload-session API:
//   POST /v1/uploads {filename,size,content_type,title} → {id, part_size, parts_total}
//   PUT  /v1/uploads/{id}/parts/{n}   (n from 1; any order; resending is harmless), or, when the
//        session is direct (ingest on S3), PUT to the URL of GET /v1/uploads/{id}/parts/{n}/url
//   GET  /v1/uploads/{id}             → {parts:[{n,size}], received_bytes, ...}
//   POST /v1/uploads/{id}/complete    → the asset {id, status, ...}
// The session id is kept in localStorage under the file's fingerprint, so after a
// reload, dropping the same file again resumes after the last part the server
// confirmed instead of starting over.

export interface SessionInfo {
  id: string;
  part_size: number;
  parts_total: number;
  /** direct: parts go straight to storage through presigned URLs. */
  direct?: boolean;
}

export interface SessionProgress extends SessionInfo {
  parts: { n: number; size: number }[] | null;
}

/** Transport is the HTTP side, replaced by a fake in unit tests. */
export interface Transport {
  create(u: { filename: string; size: number; content_type: string; title: string }): Promise<SessionInfo>;
  /** status returns null when the session no longer exists (expired, aborted). */
  status(id: string): Promise<SessionProgress | null>;
  putPart(id: string, n: number, body: Blob, onProgress: (loaded: number) => void, signal: AbortSignal): Promise<void>;
  complete(id: string): Promise<{ id: string }>;
  abort(id: string): Promise<void>;
}

export interface Store {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

export interface Saved {
  id: string;
  name: string;
  size: number;
  title: string;
  savedAt: number;
}

const KEY = "pertitle.uploads";

export function fingerprint(f: { name: string; size: number; lastModified: number }): string {
  return `${f.name}|${f.size}|${f.lastModified}`;
}

export function savedSessions(store: Store): Record<string, Saved> {
  try {
    return JSON.parse(store.getItem(KEY) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function remember(store: Store, fp: string, s: Saved | null): void {
  const all = savedSessions(store);
  if (s) all[fp] = s;
  else delete all[fp];
  store.setItem(KEY, JSON.stringify(all));
}

export function forget(store: Store, fp: string): void {
  remember(store, fp, null);
}

/** partRange is the byte range of part n (1-based). */
export function partRange(n: number, partSize: number, size: number): [number, number] {
  const start = (n - 1) * partSize;
  return [start, Math.min(start + partSize, size)];
}

/** Speed keeps a short window of (time, bytes) samples for speed and ETA. */
export class Speed {
  private samples: [number, number][] = [];
  constructor(private windowMs = 5000) {}
  add(now: number, totalBytes: number): void {
    this.samples.push([now, totalBytes]);
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
  }
  /** bytesPerSecond over the window; 0 until two samples exist. */
  bytesPerSecond(): number {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
  eta(remaining: number): number {
    const v = this.bytesPerSecond();
    return v > 0 ? remaining / v : Infinity;
  }
}

export interface UploadState {
  phase: "queued" | "uploading" | "completing" | "done" | "failed" | "cancelled";
  sent: number;
  size: number;
  speed: number; // bytes/s
  eta: number; // seconds
  resumedFrom: number; // bytes the server already had
  error?: string;
  assetId?: string;
}

export interface FileLike {
  name: string;
  size: number;
  type: string;
  lastModified: number;
  slice(start: number, end: number): Blob;
}

/** Upload sends one file; run() resolves when it is done, failed or cancelled. */
export class Upload {
  state: UploadState;
  private ctrl = new AbortController();
  private listeners: Array<(s: UploadState) => void> = [];
  private speed = new Speed();
  private now = () => (this.opts.now ?? Date.now)();

  constructor(
    readonly file: FileLike,
    readonly title: string,
    private t: Transport,
    private store: Store,
    private opts: { concurrency?: number; retryDelayMs?: number; now?: () => number } = {},
  ) {
    this.state = { phase: "queued", sent: 0, size: file.size, speed: 0, eta: Infinity, resumedFrom: 0 };
  }

  onChange(f: (s: UploadState) => void): void {
    this.listeners.push(f);
  }

  private set(patch: Partial<UploadState>): void {
    this.state = { ...this.state, ...patch };
    this.listeners.forEach((f) => f(this.state));
  }

  cancel(): void {
    this.ctrl.abort();
  }

  async run(): Promise<UploadState> {
    const fp = fingerprint(this.file);
    try {
      this.set({ phase: "uploading" });
      let session: SessionInfo | null = null;
      let have = new Set<number>();
      const saved = savedSessions(this.store)[fp];
      if (saved) {
        const st = await this.t.status(saved.id);
        if (st) {
          session = st;
          have = new Set((st.parts ?? []).map((p) => p.n));
        } else {
          forget(this.store, fp);
        }
      }
      if (!session) {
        session = await this.t.create({
          filename: this.file.name,
          size: this.file.size,
          content_type: this.file.type || "application/octet-stream",
          title: this.title,
        });
        remember(this.store, fp, { id: session.id, name: this.file.name, size: this.file.size, title: this.title, savedAt: this.now() });
      }
      const { id, part_size: partSize, parts_total: total } = session;
      let confirmed = 0;
      for (const n of have) confirmed += partRange(n, partSize, this.file.size)[1] - partRange(n, partSize, this.file.size)[0];
      this.set({ sent: confirmed, resumedFrom: confirmed });
      this.speed.add(this.now(), confirmed);

      const todo: number[] = [];
      for (let n = 1; n <= total; n++) if (!have.has(n)) todo.push(n);
      const inflight = new Map<number, number>();
      const report = () => {
        let sent = confirmed;
        inflight.forEach((v) => (sent += v));
        this.speed.add(this.now(), sent);
        this.set({ sent, speed: this.speed.bytesPerSecond(), eta: this.speed.eta(this.file.size - sent) });
      };
      const worker = async () => {
        for (let n = todo.shift(); n !== undefined; n = todo.shift()) {
          const [a, b] = partRange(n, partSize, this.file.size);
          let attempt = 0;
          for (;;) {
            try {
              inflight.set(n, 0);
              await this.t.putPart(id, n, this.file.slice(a, b), (loaded) => {
                inflight.set(n, loaded);
                report();
              }, this.ctrl.signal);
              inflight.delete(n);
              confirmed += b - a;
              report();
              break;
            } catch (e) {
              inflight.delete(n);
              // Network blips are retried with backoff; a 4xx or a cancel is final.
              const status = (e as { status?: number }).status ?? 0;
              if (this.ctrl.signal.aborted || (status >= 400 && status < 500) || ++attempt >= 4) throw e;
              await new Promise((r) => setTimeout(r, (this.opts.retryDelayMs ?? 500) * 2 ** attempt));
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 3, Math.max(1, todo.length)) }, worker));
      this.set({ phase: "completing", sent: this.file.size, eta: 0 });
      const asset = await this.t.complete(id);
      forget(this.store, fp);
      this.set({ phase: "done", assetId: asset.id });
    } catch (e) {
      if (this.ctrl.signal.aborted) {
        this.set({ phase: "cancelled" });
      } else {
        const status = (e as { status?: number }).status;
        // A refused file will never go through: its session is useless.
        if (status && status >= 400 && status < 500 && status !== 401) forget(this.store, fp);
        this.set({ phase: "failed", error: e instanceof Error ? e.message : String(e) });
      }
    }
    return this.state;
  }
}

const videoExt = /\.(mp4|m4v|mov|qt|mkv|webm|ts|mts|m2ts|avi|flv|mpe?g|m2v|vob|wmv|asf|3gp|3g2|ogv|mxf|dv|y4m|h264|264|hevc|265)$/i;

/** rejectReason says why a file cannot be a video upload, or "" when it may be. */
export function rejectReason(f: { name: string; size: number; type: string }, maxBytes = 10 * 2 ** 30): string {
  if (f.size === 0) return "the file is empty";
  if (f.size > maxBytes) return `the file is larger than the ${Math.round(maxBytes / 2 ** 30)} GiB limit`;
  const generic = f.type === "" || f.type === "application/octet-stream";
  if (f.type.startsWith("video/") || (generic && videoExt.test(f.name)) || videoExt.test(f.name)) return "";
  return `“${f.name}” is not a video (${f.type || "unknown type"}): pertitle accepts MP4, MOV, MKV, WebM, MPEG-TS and other video files`;
}
