import react from "@vitejs/plugin-react";
import { fileURLToPath, URL } from "node:url";
import { defineConfig } from "vite";

// The API serves dist/ (api/dashboard.py): index.html at every screen's path, the hashed files under /assets/.
// `@/` is the 1C front end's own import root (`@/api/tasks`, `@/components/TaskProgress`), kept so its components
// move between the two code bases unchanged.
export default defineConfig({
  plugins: [react()],
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
