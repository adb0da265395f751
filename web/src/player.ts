// A player over an HLS manifest: hls.js where Media Source Extensions exist,
// the browser's own HLS on Safari/iOS. It reports analytics to a Beacon.
import type Hls from "hls.js";
import { viewerId, type Beacon, type PlayerEvent } from "./beacon";

export interface Level {
  index: number;
  width: number;
  height: number;
  bitrate: number;
}

export interface Player {
  levels(): Level[];
  /** setLevel picks a rendition; -1 is automatic (adaptive). */
  setLevel(index: number): void;
  currentLevel(): Level | null;
  onChange(f: () => void): void;
  destroy(): void;
}

const HEARTBEAT_MS = 10_000;

function newSessionId(): string {
  return typeof crypto.randomUUID === "function" ? crypto.randomUUID() : String(Math.random()).slice(2);
}

export async function attach(video: HTMLVideoElement, url: string, assetId: string, beacon: Beacon | null): Promise<Player> {
  const session = newSessionId();
  const viewer = viewerId(localStorage);
  const listeners: Array<() => void> = [];
  const changed = () => listeners.forEach((f) => f());
  const emit = (type: PlayerEvent["type"], extra: Partial<PlayerEvent> = {}) =>
    beacon?.push({ type, asset_id: assetId, session_id: session, viewer_id: viewer, ts: Date.now(), ...extra });

  let hls: Hls | null = null;
  let levels: Level[] = [];
  let current = -1;
  let bytes = 0; // downloaded since the last heartbeat
  // Safari plays HLS itself (and iOS before 17.1 has no MSE); everything else gets
  // hls.js, which also gives the rendition picker its levels.
  const nativeHLS = video.canPlayType("application/vnd.apple.mpegurl") !== "";
  const useNative = nativeHLS && (navigator.vendor.includes("Apple") || !(await hlsSupported()));

  if (!useNative) {
    const { default: HlsClass } = await import("hls.js");
    hls = new HlsClass({ capLevelToPlayerSize: false, startLevel: -1 });
    hls.on(HlsClass.Events.MANIFEST_PARSED, (_e, data) => {
      levels = data.levels.map((l, index) => ({ index, width: l.width, height: l.height, bitrate: l.bitrate }));
      changed();
    });
    hls.on(HlsClass.Events.LEVEL_SWITCHED, (_e, data) => {
      const prev = levels[current];
      const next = levels[data.level];
      if (prev && next && prev.index !== next.index) {
        emit("bitrate_switch", { from_bitrate: prev.bitrate, to_bitrate: next.bitrate, width: next.width, height: next.height });
      }
      current = data.level;
      changed();
    });
    hls.on(HlsClass.Events.FRAG_LOADED, (_e, data) => {
      bytes += data.frag.stats.loaded || 0;
    });
    hls.on(HlsClass.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      emit("error", { error_code: String(data.details).slice(0, 64), message: `${data.type}: ${data.details}` });
      beacon?.flush();
      if (data.type === HlsClass.ErrorTypes.NETWORK_ERROR) hls?.startLoad();
      else if (data.type === HlsClass.ErrorTypes.MEDIA_ERROR) hls?.recoverMediaError();
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url;
  }

  // Startup time: from the viewer asking to play to the first frame moving.
  let playAsked = 0;
  let started = false;
  let stallStart = 0;
  let watchedSince = 0;
  const onPlay = () => {
    if (playAsked === 0) {
      playAsked = performance.now();
      emit("play_start");
    }
  };
  const onPlaying = () => {
    if (!started && playAsked > 0) {
      started = true;
      emit("startup", { startup_ms: Math.max(1, Math.round(performance.now() - playAsked)) });
      beacon?.flush(); // a play counts at once, not at the next heartbeat
    }
    if (stallStart > 0) {
      emit("stall", { stall_ms: Math.max(1, Math.round(performance.now() - stallStart)) });
      stallStart = 0;
    }
    watchedSince = performance.now();
  };
  const onWaiting = () => {
    accrue();
    watchedSince = 0; // a stall is not watch time
    if (started && stallStart === 0 && !video.seeking) stallStart = performance.now();
  };
  const onPause = () => {
    accrue();
    beacon?.flush();
  };
  const onError = () => {
    if (useNative && video.error) {
      emit("error", { error_code: `media_error_${video.error.code}`, message: video.error.message.slice(0, 1000) });
      beacon?.flush();
    }
  };
  // Watch time: from "playing" to the next pause, stall, heartbeat or end.
  let watched = 0;
  const accrue = () => {
    if (watchedSince === 0) return;
    const now = performance.now();
    watched += (now - watchedSince) / 1000;
    watchedSince = video.paused || video.ended ? 0 : now;
  };
  const heartbeat = () => {
    if (!started) return;
    accrue();
    if (watched <= 0) return; // paused since the last one: nothing to report
    const lvl = levels[current];
    emit("heartbeat", { watched_seconds: round(Math.min(watched, 900)), bytes_downloaded: bytes, to_bitrate: lvl?.bitrate, width: lvl?.width, height: lvl?.height });
    watched = 0;
    bytes = 0;
    beacon?.flush();
  };
  const timer = window.setInterval(heartbeat, HEARTBEAT_MS);
  const onHide = () => {
    if (document.visibilityState === "hidden") heartbeat();
  };
  video.addEventListener("play", onPlay);
  video.addEventListener("playing", onPlaying);
  video.addEventListener("waiting", onWaiting);
  video.addEventListener("pause", onPause);
  video.addEventListener("ended", onPause);
  video.addEventListener("error", onError);
  document.addEventListener("visibilitychange", onHide);
  window.addEventListener("pagehide", heartbeat);

  return {
    levels: () => levels,
    setLevel(index: number) {
      if (hls) {
        hls.currentLevel = index; // switches now, flushing the buffer
        if (index === -1) hls.nextLevel = -1;
      }
      changed();
    },
    currentLevel: () => levels[current] ?? null,
    onChange: (f) => listeners.push(f),
    destroy() {
      heartbeat();
      beacon?.flush();
      window.clearInterval(timer);
      document.removeEventListener("visibilitychange", onHide);
      window.removeEventListener("pagehide", heartbeat);
      video.removeEventListener("play", onPlay);
      video.removeEventListener("playing", onPlaying);
      video.removeEventListener("waiting", onWaiting);
      video.removeEventListener("pause", onPause);
      video.removeEventListener("ended", onPause);
      video.removeEventListener("error", onError);
      hls?.destroy();
      video.removeAttribute("src");
      video.load();
    },
  };
}

/** round keeps milliseconds: enough for positions and durations. */
export function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

async function hlsSupported(): Promise<boolean> {
  // Checked without loading hls.js: MSE (or ManagedMediaSource on iOS 17.1+).
  const w = window as unknown as { MediaSource?: { isTypeSupported(t: string): boolean }; ManagedMediaSource?: { isTypeSupported(t: string): boolean } };
  const ms = w.ManagedMediaSource ?? w.MediaSource;
  return !!ms && ms.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"');
}
