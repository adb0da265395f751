import * as api from "../api";
import { refresh } from "../auth";
import { forget, rejectReason, savedSessions, Upload, type SessionInfo, type SessionProgress, type Transport, type UploadState } from "../uploader";
import { formatBytes, formatDuration, h, link } from "../ui";

/** xhrTransport talks to ingest; XHR (not fetch) because it reports upload progress. */
function xhrTransport(): Transport {
  const send = async <T>(method: string, path: string, body: Blob | string | null, onProgress?: (n: number) => void, signal?: AbortSignal, retried = false): Promise<T> => {
    const headers = await api.authHeaders();
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, api.ingestURL(path));
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
      if (await refresh()) return send(method, path, body, onProgress, signal, true);
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

export function uploadPage(root: HTMLElement): () => void {
  const transport = xhrTransport();
  const input = h("input", { type: "file", id: "file-input", multiple: true, accept: "video/*,.mkv,.ts,.mts,.m2ts,.mxf,.y4m" });
  const drop = h(
    "label",
    { class: "drop", for: "file-input", "data-testid": "drop" },
    h("strong", {}, "Drop videos here"),
    h("span", { class: "muted" }, " or click to choose files. Uploads go in 8 MiB parts and resume after a reload: drop the same file again."),
  );
  const list = h("ul", { class: "uploads", id: "uploads" });
  const pending = h("div", { class: "pending" });
  const running: Upload[] = [];

  const renderPending = () => {
    pending.replaceChildren();
    const saved = Object.entries(savedSessions(localStorage));
    if (saved.length === 0) return;
    pending.append(h("h2", {}, "Unfinished uploads"), h("p", { class: "muted" }, "Drop the same file again to resume where it stopped."));
    const ul = h("ul", { class: "plain" });
    for (const [fp, s] of saved) {
      if (running.some((u) => `${u.file.name}|${u.file.size}` === `${s.name}|${s.size}`)) continue;
      ul.append(
        h(
          "li",
          {},
          `${s.name} (${formatBytes(s.size)}) `,
          h("button", {
            class: "ghost small",
            onclick: async () => {
              await transport.abort(s.id);
              forget(localStorage, fp);
              renderPending();
            },
          }, "Discard"),
        ),
      );
    }
    pending.append(ul);
  };

  const add = (files: FileList | File[]) => {
    for (const f of Array.from(files)) {
      const bar = h("progress", { max: 1, value: 0 });
      const info = h("span", { class: "info" });
      const actions = h("span", { class: "actions" });
      const li = h("li", { class: "upload", "data-file": f.name }, h("div", { class: "name" }, f.name, h("span", { class: "muted" }, ` ${formatBytes(f.size)}`)), bar, info, actions);
      list.prepend(li);
      const reason = rejectReason(f);
      if (reason) {
        bar.remove();
        li.classList.add("failed");
        info.textContent = `Refused: ${reason}`;
        info.setAttribute("role", "alert");
        continue;
      }
      const title = f.name.replace(/\.[^.]+$/, "");
      const u = new Upload(f, title, transport, localStorage);
      running.push(u);
      const cancel = h("button", { class: "ghost small", onclick: () => u.cancel() }, "Cancel");
      actions.append(cancel);
      u.onChange((s: UploadState) => {
        bar.value = s.size ? s.sent / s.size : 0;
        li.dataset.phase = s.phase;
        switch (s.phase) {
          case "uploading": {
            const resumed = s.resumedFrom > 0 ? `resumed at ${formatBytes(s.resumedFrom)} · ` : "";
            const speed = s.speed > 0 ? `${formatBytes(s.speed)}/s · ${isFinite(s.eta) ? formatDuration(s.eta) + " left" : ""}` : "starting…";
            info.textContent = `${resumed}${Math.floor((100 * s.sent) / s.size)} % · ${speed}`;
            break;
          }
          case "completing":
            info.textContent = "checking the video…";
            break;
          case "done":
            li.classList.add("done");
            info.replaceChildren("uploaded: ", link(`/assets/${s.assetId}`, "open"));
            actions.replaceChildren();
            break;
          case "failed":
            li.classList.add("failed");
            info.textContent = `Refused: ${s.error}`;
            info.setAttribute("role", "alert");
            actions.replaceChildren();
            renderPending();
            break;
          case "cancelled":
            info.textContent = "cancelled: drop the file again to resume";
            actions.replaceChildren();
            renderPending();
            break;
        }
      });
      void u.run().finally(() => running.splice(running.indexOf(u), 1));
    }
    renderPending();
  };

  input.addEventListener("change", () => {
    if (input.files) add(input.files);
    input.value = "";
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer?.files) add(e.dataTransfer.files);
  });

  root.append(h("section", { class: "card" }, h("h1", {}, "Upload"), input, drop, list, pending));
  renderPending();
  const beforeUnload = (e: BeforeUnloadEvent) => {
    if (running.length > 0) e.preventDefault();
  };
  window.addEventListener("beforeunload", beforeUnload);
  return () => window.removeEventListener("beforeunload", beforeUnload);
}
