// The catalog serves /config.json: where the issuer, ingest and the API are.

export interface AppConfig {
  issuer: string;
  client_id: string;
  ingest_url: string;
  api_base: string;
}

let current: AppConfig | null = null;

export async function loadConfig(): Promise<AppConfig> {
  const resp = await fetch("/config.json", { cache: "no-store" });
  if (!resp.ok) throw new Error(`cannot load /config.json: HTTP ${resp.status}`);
  const c = (await resp.json()) as Partial<AppConfig>;
  current = {
    issuer: (c.issuer ?? "").replace(/\/$/, ""),
    client_id: c.client_id ?? "pertitle-web",
    ingest_url: (c.ingest_url || location.origin.replace(/:\d+$/, ":8081")).replace(/\/$/, ""),
    api_base: (c.api_base || location.origin).replace(/\/$/, ""),
  };
  return current;
}

export function config(): AppConfig {
  if (!current) throw new Error("configuration not loaded");
  return current;
}
