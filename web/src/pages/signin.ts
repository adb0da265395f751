import * as auth from "../auth";
import { errorText, h } from "../ui";

export function signInPage(root: HTMLElement): void {
  const msg = h("p", { class: "error-text", role: "alert" });
  const btn = h("button", { id: "sign-in", class: "primary big" }, "Sign in");
  btn.addEventListener("click", async () => {
    btn.setAttribute("disabled", "");
    try {
      await auth.signIn();
    } catch (e) {
      msg.textContent = errorText(e);
      btn.removeAttribute("disabled");
    }
  });
  root.append(
    h(
      "section",
      { class: "hero" },
      h("h1", {}, "Per-title encoding for every upload"),
      h("p", { class: "lead" }, "Upload a video: pertitle analyses it, builds a bitrate ladder for that title, encodes HLS and DASH, and shows what it saved against a fixed ladder."),
      btn,
      msg,
    ),
  );
}
