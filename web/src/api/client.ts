// Every call to the API: the access token in the Authorization header (never in a URL), one shared refresh on a
// 401, and the API's `detail` turned into a message a person can read.
import { claimsOf, readSession, saveSession, type Session } from "./session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** FastAPI's `detail`: a string, or a list of {loc, msg}, shown as "field: msg". */
export function describeDetail(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        if (!item || typeof item !== "object") return String(item);
        const { loc, msg } = item as { loc?: unknown[]; msg?: string };
        let path = Array.isArray(loc) ? loc.slice() : [];
        if (["body", "query", "path", "header"].includes(String(path[0]))) path = path.slice(1);
        const field = path.join(".").replace(/_/g, " ");
        return field ? `${field}: ${msg}` : String(msg);
      })
      .join("\n");
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return "";
}

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(key, String(item)));
    else params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "offline");
  }
}

async function readBody<T>(response: Response): Promise<T> {
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const said = data && typeof data === "object" ? describeDetail((data as { detail?: unknown }).detail) : "";
    throw new ApiError(response.status, said || `HTTP ${response.status} ${response.statusText}`);
  }
  return data as T;
}

let refreshing: Promise<string> | null = null;

/** Swap the refresh token for a new access token; concurrent callers share one request. */
export function refreshAccess(): Promise<string> {
  refreshing ??= (async () => {
    const session = readSession();
    if (!session) throw new ApiError(401, "signed out");
    const data = await readBody<{ access: string; refresh: string | null }>(
      await send("POST", "/api/token/refresh/", { refresh: session.refresh }, null),
    );
    // The refresh token just sent is spent: keep the one that replaces it (null when another tab already rotated
    // it, and stored the new one where readSession finds it).
    const latest = readSession() ?? session;
    const next: Session = {
      access: data.access,
      refresh: data.refresh ?? latest.refresh,
      user: { ...latest.user, ...claimsOf(data.access) },
    };
    saveSession(next);
    return data.access;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** An authenticated call: on a 401, refresh once and retry; a refused refresh signs the page out. */
export async function api<T = unknown>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const url = withQuery(path, query);
  let response = await send(method, url, body, readSession()?.access ?? null);
  if (response.status === 401 && readSession()) {
    try {
      await refreshAccess();
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0) saveSession(null);
      throw new ApiError(401, "session expired");
    }
    response = await send(method, url, body, readSession()?.access ?? null);
    if (response.status === 401) saveSession(null);
  }
  return readBody<T>(response);
}

export const get = <T>(path: string, query?: Query) => api<T>("GET", path, undefined, query);
export const post = <T>(path: string, body?: unknown, query?: Query) => api<T>("POST", path, body ?? {}, query);
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const del = (path: string) => api<void>("DELETE", path);

export async function signIn(username: string, password: string): Promise<Session> {
  const data = await readBody<Session>(await send("POST", "/api/login/", { username, password }, null));
  saveSession(data);
  return data;
}

export async function signOut(): Promise<void> {
  const session = readSession();
  saveSession(null);
  // End the session on the server too, so a copied refresh token refreshes nothing. Best effort.
  if (session) await send("POST", "/api/logout/", { refresh: session.refresh }, session.access).catch(() => {});
}
