// Calls to the catalog and ingest APIs with the bearer token; a 401 refreshes the
// token once and retries, then asks the user to sign in again.
import * as auth from "./auth";
import { config } from "./config";

export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function authHeaders(): Promise<Record<string, string>> {
  const token = await auth.accessToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** request fetches base+path with the token and returns the parsed JSON body. */
export async function request<T>(url: string, init: RequestInit = {}, retried = false): Promise<T> {
  const headers = { ...(init.headers as Record<string, string>), ...(await authHeaders()) };
  const resp = await fetch(url, { ...init, headers });
  if (resp.status === 401 && !retried && auth.enabled() && (await auth.refresh())) {
    return request<T>(url, init, true);
  }
  const text = await resp.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const msg = body?.error ?? body?.message ?? (text.trim() || resp.statusText);
    if (resp.status === 401) throw new APIError("your session has ended: sign in again", 401);
    throw new APIError(typeof msg === "string" ? msg : JSON.stringify(msg), resp.status);
  }
  return body as T;
}

export const catalogURL = (path: string) => config().api_base + path;
export const ingestURL = (path: string) => config().ingest_url + path;

export interface Quality {
  metric: string;
  value: number;
}

export interface Rendition {
  width: number;
  height: number;
  bitrate: number;
  average_bitrate: number;
  codec: string;
  codecs: string;
  frame_rate: number;
  bytes: number;
  quality: Quality[] | null;
}

export type LadderMode = "pertitle" | "pershot" | "static" | "fixed";

export interface Asset {
  id: string;
  title: string;
  owner: string;
  status: "uploaded" | "encoding" | "ready" | "failed";
  error?: string;
  /** chunks_done, chunks and workers are set for chunked encodes only. */
  progress?: { percent: number; eta_seconds: number; chunks_done?: number; chunks?: number; workers?: number };
  hls_url?: string;
  dash_url?: string;
  renditions: Rendition[] | null;
  duration_seconds: number;
  width: number;
  height: number;
  source_bytes: number;
  created_at: string;
  updated_at: string;
  ready_at?: string;
  /** How the ready encoding chose its ladder; absent for older encodings. */
  ladder_mode?: LadderMode;
  [k: string]: unknown;
}

export function listAssets(cursor = ""): Promise<{ assets: Asset[]; next_cursor: string }> {
  const q = new URLSearchParams({ limit: "50" });
  if (cursor) q.set("cursor", cursor);
  return request(catalogURL(`/v1/assets?${q}`));
}

export function getAsset(id: string): Promise<Asset> {
  return request(catalogURL(`/v1/assets/${encodeURIComponent(id)}`));
}
