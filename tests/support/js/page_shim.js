// The rest of the browser the dashboard's app.js uses at start (load after dom_shim.js):
// storage, location, timers, a socket that cannot connect, and fetch answering from
// `apiAnswers`, which the test fills with {path: JSON body} before loading the page.
"use strict";

const stored = new Map();
const localStorage = {
  getItem: (key) => (stored.has(key) ? stored.get(key) : null),
  setItem: (key, value) => { stored.set(key, String(value)); },
  removeItem: (key) => { stored.delete(key); },
};
const location = { protocol: "http:", host: "127.0.0.1:8000" };
const window = { confirm: () => false };
const CSS = { escape: (text) => String(text).replace(/["\\]/g, "\\$&") };

// Timers are recorded and never fire: what the test inspects is what the page did at once.
const timers = [];
globalThis.setTimeout = (fn, ms) => timers.push({ fn, ms });
globalThis.setInterval = (fn, ms) => timers.push({ fn, ms, repeat: true });
globalThis.clearTimeout = () => {};
globalThis.clearInterval = () => {};

// The socket fails at once, so the page falls back to polling (by timer, which never fires).
class WebSocket {
  constructor(url) {
    throw new Error(`no sockets here (${url})`);
  }
}

class URLSearchParams {
  constructor(init = {}) {
    this.pairs = Object.entries(init).map(([key, value]) => [key, String(value)]);
  }
  set(key, value) {
    this.pairs = this.pairs.filter(([k]) => k !== key).concat([[key, String(value)]]);
  }
  toString() {
    return this.pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  }
}

const apiAnswers = {};
const requests = [];
async function fetch(url, options = {}) {
  const path = url.split("?")[0];
  const authorization = (options.headers || {}).Authorization || null;
  requests.push({ url, method: options.method || "GET", authorization, body: options.body ?? null });
  const found = Object.hasOwn(apiAnswers, path);
  const body = JSON.stringify(found ? apiAnswers[path] : { detail: `no answer for ${path} in this test` });
  return { ok: found, status: found ? 200 : 404, statusText: found ? "OK" : "Not Found", text: async () => body };
}
