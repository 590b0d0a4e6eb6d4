// A socket to the API that stays up: the access token goes as the first message (a URL lands in the server's and
// proxies' logs), a refused token (4401) is refreshed once, and a dropped socket reconnects with backoff while the
// screen falls back to polling (LiveState tells it when).
import { refreshAccess } from "./client";
import { readSession } from "./session";

export type LiveState = "connecting" | "live" | "down";

const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export class LiveSocket {
  private ws: WebSocket | null = null;
  private wanted = true;
  private backoff = BACKOFF_START_MS;
  private authRetried = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly path: string,
    private readonly onMessage: (data: unknown) => void,
    private readonly onState: (state: LiveState) => void = () => {},
    // Closes that mean "nothing more to say" (a watched job ended): no reconnect.
    private readonly endsOn: (code: number) => boolean = () => false,
  ) {
    this.connect();
  }

  close(): void {
    this.wanted = false;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "done");
  }

  private connect(): void {
    if (!this.wanted || this.ws) return;
    const token = readSession()?.access;
    if (!token) return;
    this.onState("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.ws = ws;
    let openedAt = 0;
    ws.onopen = () => {
      ws.send(JSON.stringify({ token }));
      openedAt = Date.now();
      this.onState("live");
    };
    ws.onmessage = (event) => {
      this.backoff = BACKOFF_START_MS;
      this.authRetried = false;
      let data: unknown;
      try {
        data = JSON.parse(String(event.data));
      } catch {
        return;
      }
      this.onMessage(data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.wanted) return;
      if (this.endsOn(event.code)) {
        this.wanted = false;
        return;
      }
      if (openedAt && Date.now() - openedAt > 10000) this.backoff = BACKOFF_START_MS;
      if (event.code === 4401 && !this.authRetried) {
        this.authRetried = true;
        refreshAccess().then(
          () => this.connect(),
          () => this.onState("down"),
        );
        return;
      }
      this.onState("down");
      const delay = Math.min(this.backoff, BACKOFF_MAX_MS) * (0.8 + Math.random() * 0.4);
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }
}
