// Player analytics: events are queued and sent in batches (a JSON array) to
// POST /v1/analytics/events?token=<beacon_token> with navigator.sendBeacon, which
// survives the page being closed. A beacon cannot carry an Authorization header:
// the catalog hands out a beacon token per asset with its playback URLs.

export type EventType = "play_start" | "startup" | "bitrate_switch" | "stall" | "error" | "heartbeat";

export interface PlayerEvent {
  type: EventType;
  asset_id: string;
  session_id: string;
  viewer_id: string;
  ts: number; // ms since the Unix epoch
  startup_ms?: number;
  from_bitrate?: number;
  to_bitrate?: number; // bitrate_switch: the new rendition; heartbeat: the one playing
  width?: number;
  height?: number;
  stall_ms?: number;
  error_code?: string;
  message?: string;
  watched_seconds?: number; // since the previous heartbeat
  bytes_downloaded?: number; // since the previous heartbeat
}

export type Send = (url: string, body: Blob) => boolean;

export class Beacon {
  private queue: PlayerEvent[] = [];
  constructor(
    private url: string,
    private send: Send = (u, b) => navigator.sendBeacon(u, b),
    private maxBatch = 50,
  ) {}

  push(e: PlayerEvent): void {
    this.queue.push(e);
    if (this.queue.length >= this.maxBatch) this.flush();
  }

  /** flush sends what is queued; a refused beacon (too large, quota) keeps it. */
  flush(): void {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.maxBatch);
      if (!this.send(this.url, new Blob([JSON.stringify(batch)], { type: "application/json" }))) return;
      this.queue.splice(0, batch.length);
    }
  }

  pending(): number {
    return this.queue.length;
  }
}

/** viewerId is a random id kept in localStorage: unique viewers without identity. */
export function viewerId(store: Pick<Storage, "getItem" | "setItem">): string {
  let id = store.getItem("pertitle.viewer");
  if (!id) {
    id = "v-" + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    store.setItem("pertitle.viewer", id);
  }
  return id;
}
