import * as api from "../api";
import { refresh } from "../auth";
import { xhrTransport } from "../transport";
import { forget, rejectReason, savedSessions, Upload, type UploadState } from "../uploader";
import { formatBytes, formatDuration, h, link } from "../ui";

export function uploadPage(root: HTMLElement): () => void {
  const transport = xhrTransport({ authHeaders: api.authHeaders, ingestURL: api.ingestURL, refresh });
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
