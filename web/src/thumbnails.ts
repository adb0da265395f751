// Poster frames without a thumbnail endpoint: the lowest rendition is loaded in a
// hidden video, one asset at a time, a frame a second in is drawn to a canvas and
// kept as a data URL for the rest of the visit.
const cache = new Map<string, string>();
const pending = new Map<string, HTMLImageElement[]>();
const queue: Array<() => Promise<void>> = [];
let busy = false;

async function pump(): Promise<void> {
  if (busy) return;
  busy = true;
  for (let job = queue.shift(); job; job = queue.shift()) await job().catch(() => undefined);
  busy = false;
}

export function poster(assetId: string, hlsURL: string, duration: number, img: HTMLImageElement): void {
  const hit = cache.get(assetId);
  if (hit) {
    img.src = hit;
    img.classList.add("loaded");
    return;
  }
  const waiting = pending.get(assetId);
  if (waiting) {
    waiting.push(img); // a grab of this asset is already queued
    return;
  }
  pending.set(assetId, [img]);
  queue.push(async () => {
    const url = await grab(hlsURL, Math.min(1, duration / 3)).catch(() => null);
    const imgs = pending.get(assetId) ?? [];
    pending.delete(assetId);
    if (!url) return;
    cache.set(assetId, url);
    for (const el of imgs) {
      el.src = url;
      el.classList.add("loaded");
    }
  });
  void pump();
}

async function grab(hlsURL: string, at: number): Promise<string | null> {
  const { default: Hls } = await import("hls.js");
  if (!Hls.isSupported()) return null;
  const video = document.createElement("video");
  video.muted = true;
  video.crossOrigin = "anonymous";
  const hls = new Hls({ startLevel: 0, autoStartLoad: true, capLevelToPlayerSize: false, maxBufferLength: 2 });
  try {
    return await new Promise<string | null>((resolve) => {
      const timeout = setTimeout(() => resolve(null), 8000);
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        hls.currentLevel = 0;
      });
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (d.fatal) resolve(null);
      });
      video.addEventListener("loadeddata", () => (video.currentTime = at), { once: true });
      video.addEventListener(
        "seeked",
        () => {
          clearTimeout(timeout);
          const c = document.createElement("canvas");
          c.width = 320;
          c.height = Math.round((320 * (video.videoHeight || 9)) / (video.videoWidth || 16));
          c.getContext("2d")?.drawImage(video, 0, 0, c.width, c.height);
          try {
            resolve(c.toDataURL("image/jpeg", 0.7));
          } catch {
            resolve(null); // a tainted canvas: media without CORS
          }
        },
        { once: true },
      );
      hls.loadSource(hlsURL);
      hls.attachMedia(video);
    });
  } finally {
    hls.destroy();
  }
}
