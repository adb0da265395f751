import { defineConfig } from "vite";

// The build is embedded in the catalog binary (services/catalog/internal/webapp).
// Hashed files go under _app/ so they cannot collide with the app's /assets/{id}
// route; the catalog serves them as immutable.
export default defineConfig({
  build: {
    outDir: "../services/catalog/internal/webapp/dist/app",
    emptyOutDir: true,
    assetsDir: "_app",
    target: "es2020",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev` against a running stack: the API and media come from the catalog.
    proxy: {
      "/v1": "http://127.0.0.1:8080",
      "/media": "http://127.0.0.1:8080",
      "/config.json": "http://127.0.0.1:8080",
    },
  },
  test: {
    environment: "node",
  },
} as any);
