import * as api from "../api";
import { poster } from "../thumbnails";
import { errorText, formatBytes, formatDuration, h, link, statusBadge } from "../ui";

const FAST_POLL = 2000; // while something is encoding
const SLOW_POLL = 15000;

export function libraryPage(root: HTMLElement): () => void {
  const grid = h("div", { class: "grid", id: "library" });
  const msg = h("p", { class: "muted" }, "Loading…");
  root.append(
    h("section", { class: "card" }, h("div", { class: "row" }, h("h1", {}, "Library"), link("/upload", h("span", { class: "button primary" }, "Upload videos"))), msg, grid),
  );
  const cards = new Map<string, HTMLElement>();
  let timer: number | undefined;
  let stopped = false;

  const card = (a: api.Asset): HTMLElement => {
    const img = h("img", { alt: "", class: "thumb-img" });
    const thumb = h("div", { class: "thumb" }, img, h("span", { class: "res" }, a.height ? `${a.height}p` : ""), h("span", { class: "dur" }, formatDuration(a.duration_seconds)));
    if (a.status === "ready" && a.hls_url) poster(a.id, a.hls_url, a.duration_seconds, img);
    const progress = a.status === "encoding" ? h("progress", { max: 100, value: a.progress?.percent ?? 0 }) : null;
    const meta = h(
      "div",
      { class: "meta" },
      h("div", { class: "title", title: a.title }, a.title || a.id),
      h("div", { class: "sub" }, statusBadge(a.status, a.progress?.percent), " ", h("span", { class: "muted" }, formatBytes(a.source_bytes))),
      progress,
      a.status === "failed" && a.error ? h("div", { class: "error-text small" }, a.error) : null,
    );
    return link(`/assets/${a.id}`, thumb, meta);
  };

  const refresh = async () => {
    let anyBusy = false;
    try {
      const assets: api.Asset[] = [];
      let cursor = "";
      do {
        const page = await api.listAssets(cursor);
        assets.push(...(page.assets ?? []));
        cursor = page.next_cursor;
      } while (cursor && assets.length < 500);
      if (stopped) return;
      msg.className = "muted";
      msg.replaceChildren(assets.length === 0 ? link("/upload", "Upload your first video") : "");
      const seen = new Set<string>();
      assets.forEach((a, i) => {
        seen.add(a.id);
        anyBusy ||= a.status === "uploaded" || a.status === "encoding";
        const old = cards.get(a.id);
        // Build a card only when its status or progress moved, so that a ready
        // card keeps its poster frame.
        if (!old || old.dataset.status !== a.status || a.status === "encoding") {
          const el = card(a);
          el.classList.add("asset-card");
          el.dataset.id = a.id;
          el.dataset.status = a.status;
          old?.replaceWith(el);
          cards.set(a.id, el);
        }
        const cur = cards.get(a.id)!;
        if (grid.children[i] !== cur) grid.insertBefore(cur, grid.children[i] ?? null);
      });
      for (const [id, el] of cards) if (!seen.has(id)) (el.remove(), cards.delete(id));
    } catch (e) {
      msg.textContent = errorText(e);
      msg.className = "error-text";
    }
    if (!stopped) timer = window.setTimeout(refresh, anyBusy ? FAST_POLL : SLOW_POLL);
  };
  void refresh();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
