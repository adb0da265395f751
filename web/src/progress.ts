import type { Asset } from "./api";
import { formatDuration } from "./ui";

/** progressText says how far an encode is: percent, the chunks and workers of a chunked encode, time left. */
export function progressText(p: Asset["progress"]): string {
  let s = `Encoding: ${Math.floor(p?.percent ?? 0)} %`;
  if (p?.chunks) {
    const workers = p.workers ?? 0;
    s += `, ${p.chunks_done ?? 0} of ${p.chunks} chunks done on ${workers} worker${workers === 1 ? "" : "s"}`;
  }
  if (p?.eta_seconds) {
    s += `, about ${formatDuration(p.eta_seconds)} left`;
  }
  return s;
}
