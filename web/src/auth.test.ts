import { beforeEach, describe, expect, it, vi } from "vitest";
import * as auth from "./auth";
import { loadConfig } from "./config";
import { challengeS256 } from "./pkce";

class MemStorage {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "");
const jwt = (claims: object) => `${b64({ alg: "RS256" })}.${b64(claims)}.sig`;

let tokenRequests: URLSearchParams[] = [];
let loc: { origin: string; pathname: string; search: string; assign: ReturnType<typeof vi.fn> };

beforeEach(async () => {
  tokenRequests = [];
  loc = { origin: "http://127.0.0.1:8080", pathname: "/upload", search: "", assign: vi.fn() };
  vi.stubGlobal("location", loc);
  vi.stubGlobal("history", { replaceState: vi.fn() });
  vi.stubGlobal("sessionStorage", new MemStorage());
  vi.stubGlobal("window", globalThis);
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const json = (v: object, status = 200) => new Response(JSON.stringify(v), { status });
      if (url === "/config.json") return json({ issuer: "http://issuer", client_id: "pertitle-web", ingest_url: "http://ingest", api_base: "" });
      if (url === "http://issuer/.well-known/openid-configuration") return json({ authorization_endpoint: "http://issuer/authorize", token_endpoint: "http://issuer/token" });
      if (url === "http://issuer/token") {
        const form = new URLSearchParams(String(init?.body));
        tokenRequests.push(form);
        if (form.get("grant_type") === "refresh_token") return json({ access_token: "access-2", refresh_token: "refresh-2", expires_in: 900 });
        return json({ access_token: "access-1", refresh_token: "refresh-1", expires_in: 900, id_token: jwt({ sub: "u1", preferred_username: "demo", nonce: pendingNonce() }) });
      }
      return json({ error: "unexpected " + url }, 500);
    }),
  );
  await loadConfig();
});

function pendingNonce(): string {
  return JSON.parse(sessionStorage.getItem("pertitle.pkce") ?? "{}").nonce;
}

describe("sign-in with authorization code + PKCE", () => {
  it("redirects to the issuer with an S256 challenge of a stored verifier", async () => {
    await auth.signIn();
    const pending = JSON.parse(sessionStorage.getItem("pertitle.pkce")!);
    const url = new URL(loc.assign.mock.calls[0][0]);
    expect(url.origin + url.pathname).toBe("http://issuer/authorize");
    expect(url.searchParams.get("client_id")).toBe("pertitle-web");
    expect(url.searchParams.get("redirect_uri")).toBe("http://127.0.0.1:8080/");
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("code_challenge")).toBe(await challengeS256(pending.verifier));
    expect(url.searchParams.get("state")).toBe(pending.state);
    expect(pending.returnTo).toBe("/upload");
  });

  it("exchanges the code with the verifier, then refreshes with the rotated refresh token", async () => {
    await auth.signIn();
    const pending = JSON.parse(sessionStorage.getItem("pertitle.pkce")!);
    loc.search = `?code=the-code&state=${pending.state}`;
    expect(await auth.completeSignIn()).toBe("/upload");
    expect(tokenRequests[0].get("grant_type")).toBe("authorization_code");
    expect(tokenRequests[0].get("code")).toBe("the-code");
    expect(tokenRequests[0].get("code_verifier")).toBe(pending.verifier);
    expect(auth.user()).toMatchObject({ subject: "u1", name: "demo" });
    expect(await auth.accessToken()).toBe("access-1");

    expect(await auth.refresh()).toBe(true);
    expect(tokenRequests[1].get("refresh_token")).toBe("refresh-1");
    expect(await auth.accessToken()).toBe("access-2");
    expect(auth.user()?.name).toBe("demo"); // the id token is kept across refreshes
    await auth.refresh();
    expect(tokenRequests[2].get("refresh_token")).toBe("refresh-2");
  });

  it("refuses a callback whose state was not issued here", async () => {
    await auth.signIn();
    loc.search = "?code=the-code&state=forged";
    await expect(auth.completeSignIn()).rejects.toThrow(/does not match/);
    expect(tokenRequests).toHaveLength(0);
    expect(auth.user()).toBeNull();
  });

  it("asks for offline_access only from a provider that lists it or says nothing (Cognito lists it not, and refuses it)", async () => {
    await auth.signIn();
    const url = new URL(loc.assign.mock.calls[0][0]);
    expect(url.searchParams.get("scope")).toBe("openid profile email offline_access");
    const cognito = ["openid", "email", "phone", "profile"];
    expect(auth.scopeFor({ authorization_endpoint: "", token_endpoint: "", scopes_supported: cognito })).toBe("openid profile email");
    expect(auth.scopeFor({ authorization_endpoint: "", token_endpoint: "", scopes_supported: [...cognito, "offline_access"] })).toBe(
      "openid profile email offline_access",
    );
  });

  it("ignores addresses that are not a callback", async () => {
    loc.search = "?tab=2";
    expect(await auth.completeSignIn()).toBeNull();
  });
});
