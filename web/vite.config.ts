import react from "@vitejs/plugin-react";
import { fileURLToPath, URL } from "node:url";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";

// A gzip copy beside each script and style, made once at build time: the API sends it to browsers that accept gzip
// (a third of the bytes) without compressing on every request.
function precompress(): Plugin {
  return {
    name: "longrun-precompress",
    apply: "build",
    // From the files as written (the bundle's in-memory copy of a style still carries Vite's markers).
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/\.(js|css)$/.test(name)) continue;
        const path = join(options.dir ?? "dist", name);
        writeFileSync(`${path}.gz`, gzipSync(readFileSync(path), { level: 9 }));
      }
    },
  };
}

// The API serves dist/ (api/dashboard.py): index.html at every screen's path, the hashed files under /assets/.
// `@/` is the 1C front end's own import root (`@/api/tasks`, `@/components/TaskProgress`), kept so its components
// move between the two code bases unchanged.
export default defineConfig({
  plugins: [react(), precompress()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline <script> for the module preload polyfill: the page's CSP allows only its own files.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
  },
});
