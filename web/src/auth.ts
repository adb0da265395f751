// Sign-in with OIDC authorization code + PKCE, entirely in the browser (a public
// client has no secret). Tokens live in sessionStorage: they survive a reload of
// the tab, not the tab itself. The access token is refreshed before it expires.
import { config } from "./config";
import { challengeS256, decodeJWT, randomToken } from "./pkce";

export interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
  scopes_supported?: string[];
}

/**
 * scopeFor asks for offline_access (a refresh token) only from a provider that
 * has it or does not say: Cognito has not (it hands out refresh tokens all the
 * same) and refuses a sign-in that asks for a scope its app client lacks.
 */
export function scopeFor(d: Discovery): string {
  const s = d.scopes_supported;
  return !s || s.length === 0 || s.includes("offline_access") ? "openid profile email offline_access" : "openid profile email";
}

interface Tokens {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  expires_at: number; // ms since epoch
}

export interface User {
  subject: string;
  name: string;
  email?: string;
  groups: string[];
}

const TOKENS = "pertitle.tokens";
const PENDING = "pertitle.pkce";
const listeners: Array<() => void> = [];
let discovery: Promise<Discovery> | null = null;
let refreshTimer: number | undefined;
let refreshing: Promise<boolean> | null = null;

export function enabled(): boolean {
  return config().issuer !== "";
}

export function redirectURI(): string {
  return location.origin + "/";
}

function discover(): Promise<Discovery> {
  if (!discovery) {
    discovery = fetch(config().issuer + "/.well-known/openid-configuration").then(async (r) => {
      if (!r.ok) throw new Error(`cannot reach the sign-in service (${config().issuer}): HTTP ${r.status}`);
      return (await r.json()) as Discovery;
    });
    discovery.catch(() => (discovery = null));
  }
  return discovery;
}

function load(): Tokens | null {
  try {
    const t = JSON.parse(sessionStorage.getItem(TOKENS) ?? "null") as Tokens | null;
    return t && t.access_token ? t : null;
  } catch {
    return null;
  }
}

function save(t: Tokens | null): void {
  if (t) sessionStorage.setItem(TOKENS, JSON.stringify(t));
  else sessionStorage.removeItem(TOKENS);
  schedule();
  listeners.forEach((f) => f());
}

export function onChange(f: () => void): void {
  listeners.push(f);
}

export function user(): User | null {
  const t = load();
  if (!t) return null;
  const c = decodeJWT(t.id_token ?? t.access_token);
  const str = (k: string) => (typeof c[k] === "string" ? (c[k] as string) : "");
  return {
    subject: str("sub"),
    name: str("preferred_username") || str("name") || str("email") || str("sub"),
    email: str("email") || undefined,
    groups: Array.isArray(c.groups) ? (c.groups as string[]) : [],
  };
}

/** accessToken returns a valid token, refreshing it first if it is about to expire. */
export async function accessToken(): Promise<string | null> {
  const t = load();
  if (!t) return null;
  if (t.expires_at - Date.now() < 15_000 && t.refresh_token) {
    if (await refresh()) return load()?.access_token ?? null;
  }
  return t.access_token;
}

/** signIn sends the browser to the issuer's login page. */
export async function signIn(returnTo = location.pathname + location.search): Promise<void> {
  const d = await discover();
  const verifier = randomToken(48);
  const state = randomToken(16);
  const nonce = randomToken(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, returnTo }));
  const q = new URLSearchParams({
    response_type: "code",
    client_id: config().client_id,
    redirect_uri: redirectURI(),
    scope: scopeFor(d),
    state,
    nonce,
    code_challenge: await challengeS256(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${d.authorization_endpoint}?${q}`);
}

/**
 * completeSignIn handles the redirect back from the issuer (?code=&state= on the
 * redirect URI). It returns the path to go on to, or null when the URL is not a
 * callback. A mismatched state is refused: it is how a forged callback looks.
 */
export async function completeSignIn(): Promise<string | null> {
  const q = new URLSearchParams(location.search);
  if (!q.has("state") || (!q.has("code") && !q.has("error"))) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null") as
    | { verifier: string; state: string; nonce: string; returnTo: string }
    | null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", "/");
  if (q.has("error")) throw new Error(`sign-in failed: ${q.get("error_description") || q.get("error")}`);
  if (!pending || pending.state !== q.get("state")) throw new Error("sign-in failed: the response does not match a sign-in started here; try again");
  const d = await discover();
  const resp = await fetch(d.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: q.get("code") ?? "",
      redirect_uri: redirectURI(),
      client_id: config().client_id,
      code_verifier: pending.verifier,
    }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(`sign-in failed: ${body.error_description || body.error || `HTTP ${resp.status}`}`);
  if (body.id_token) {
    const claims = decodeJWT(body.id_token);
    if (claims.nonce !== undefined && claims.nonce !== pending.nonce) throw new Error("sign-in failed: the ID token's nonce does not match");
  }
  save(toTokens(body));
  return pending.returnTo && pending.returnTo !== "/" ? pending.returnTo : "/";
}

function toTokens(body: Record<string, unknown>, previous?: Tokens): Tokens {
  const expiresIn = Number(body.expires_in ?? 300);
  return {
    access_token: String(body.access_token),
    id_token: (body.id_token as string | undefined) ?? previous?.id_token,
    refresh_token: (body.refresh_token as string | undefined) ?? previous?.refresh_token,
    expires_at: Date.now() + expiresIn * 1000,
  };
}

/** refresh trades the refresh token for new tokens; false means sign in again. */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    const t = load();
    if (!t?.refresh_token) return false;
    try {
      const d = await discover();
      const resp = await fetch(d.token_endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: config().client_id }),
      });
      if (!resp.ok) {
        if (resp.status >= 400 && resp.status < 500) save(null); // revoked or expired
        return false;
      }
      save(toTokens(await resp.json(), t));
      return true;
    } catch {
      return false; // offline: keep the tokens and try again later
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function schedule(): void {
  window.clearTimeout(refreshTimer);
  const t = load();
  if (!t?.refresh_token) return;
  const delay = Math.max(5_000, t.expires_at - Date.now() - 30_000);
  refreshTimer = window.setTimeout(() => void refresh(), delay);
}

export async function signOut(): Promise<void> {
  const t = load();
  save(null);
  if (!enabled()) return;
  const d = await discover().catch(() => null);
  if (d?.end_session_endpoint) {
    const q = new URLSearchParams({ post_logout_redirect_uri: redirectURI(), client_id: config().client_id });
    if (t?.id_token) q.set("id_token_hint", t.id_token);
    location.assign(`${d.end_session_endpoint}?${q}`);
  } else {
    location.assign("/");
  }
}

export function start(): void {
  schedule();
}
