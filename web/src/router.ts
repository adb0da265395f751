// History-API routing: links marked data-link change the page without a reload.

export type Cleanup = () => void;
export type Page = (root: HTMLElement, params: Record<string, string>) => void | Cleanup | Promise<void | Cleanup>;

interface Route {
  pattern: RegExp;
  keys: string[];
  page: Page;
}

const routes: Route[] = [];
let cleanup: Cleanup | null = null;
let root: HTMLElement;
let afterRender: (path: string) => void = () => {};

/** route registers a page for a path such as "/assets/:id". */
export function route(path: string, page: Page): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    "^" + path.replace(/:(\w+)/g, (_, k) => (keys.push(k), "([^/]+)")) + "/?$",
  );
  routes.push({ pattern, keys, page });
}

export function match(path: string): { page: Page; params: Record<string, string> } | null {
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (m) return { page: r.page, params: Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1])])) };
  }
  return null;
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void render();
}

export async function render(): Promise<void> {
  cleanup?.();
  cleanup = null;
  root.replaceChildren();
  const m = match(location.pathname);
  afterRender(location.pathname);
  if (!m) {
    root.innerHTML = `<section class="card"><h1>Not found</h1><p>No page at this address. <a href="/" data-link>Back to the library</a>.</p></section>`;
    return;
  }
  const c = await m.page(root, m.params);
  if (typeof c === "function") cleanup = c;
}

export function start(el: HTMLElement, onRender: (path: string) => void): void {
  root = el;
  afterRender = onRender;
  document.addEventListener("click", (e) => {
    const a = (e.target as Element).closest("a[data-link]") as HTMLAnchorElement | null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
    e.preventDefault();
    if (a.pathname + a.search !== location.pathname + location.search) navigate(a.pathname + a.search);
  });
  window.addEventListener("popstate", () => void render());
}
