import "./style.css";
import * as auth from "./auth";
import { loadConfig } from "./config";
import { analyticsPage } from "./pages/analytics";
import { assetPage } from "./pages/asset";
import { libraryPage } from "./pages/library";
import { signInPage } from "./pages/signin";
import { uploadPage } from "./pages/upload";
import * as router from "./router";
import { clear, errorText, h, link } from "./ui";

// Pages that need a signed-in user when sign-in is on.
const guarded =
  (page: router.Page): router.Page =>
  (root, params) =>
    auth.enabled() && !auth.user() ? signInPage(root) : page(root, params);

router.route("/", guarded(libraryPage));
router.route("/upload", guarded(uploadPage));
router.route("/assets/:id", guarded(assetPage));
router.route("/analytics", guarded(analyticsPage));
router.route("/analytics/:id", guarded(analyticsPage));

function renderChrome(path: string): void {
  const nav = document.getElementById("nav")!;
  const userBox = document.getElementById("user")!;
  clear(nav);
  clear(userBox);
  const u = auth.user();
  if (!auth.enabled() || u) {
    for (const [href, label] of [
      ["/", "Library"],
      ["/upload", "Upload"],
      ["/analytics", "Analytics"],
    ]) {
      const active = href === "/" ? path === "/" || path.startsWith("/assets/") : path.startsWith(href);
      const a = link(href, label);
      if (active) a.classList.add("active");
      nav.append(a);
    }
  }
  if (!auth.enabled()) {
    userBox.append(h("span", { class: "muted", title: "PERTITLE_OIDC_ISSUER is not set" }, "sign-in off"));
  } else if (u) {
    userBox.append(
      h("span", { class: "who", "data-testid": "user" }, u.name),
      h("button", { class: "ghost", id: "sign-out", onclick: () => void auth.signOut() }, "Sign out"),
    );
  } else {
    userBox.append(h("button", { id: "sign-in-top", onclick: () => void auth.signIn() }, "Sign in"));
  }
}

async function boot(): Promise<void> {
  const app = document.getElementById("app")!;
  try {
    await loadConfig();
    router.start(app, renderChrome);
    if (auth.enabled()) {
      auth.start();
      auth.onChange(() => renderChrome(location.pathname));
      const next = await auth.completeSignIn();
      if (next) history.replaceState(null, "", next);
    }
  } catch (e) {
    app.replaceChildren(h("section", { class: "card error", role: "alert" }, h("h1", {}, "Cannot start"), h("p", {}, errorText(e)), link("/", "Try again")));
    return;
  }
  await router.render();
}

void boot();
