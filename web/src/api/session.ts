// The signed-in session, kept in localStorage so a reload (or a second tab) stays signed in. The refresh token
// rotates: every tab reads the one stored last, and the `storage` event tells the others when it changes.

export type Role = "admin" | "manager" | "user" | "worker";

export interface User {
  id: number;
  username: string;
  role: Role;
}

export interface Session {
  access: string;
  refresh: string;
  user: User;
}

const KEY = "longrun.session";
type Listener = (session: Session | null) => void;
const listeners = new Set<Listener>();

export function readSession(): Session | null {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
    return value && value.access && value.refresh && value.user ? value : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
  listeners.forEach((listener) => listener(session));
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

window.addEventListener("storage", (event) => {
  if (event.key === KEY || event.key === null) {
    const session = readSession();
    listeners.forEach((listener) => listener(session));
  }
});

/** The role the newest access token carries (a refresh re-reads the user): display only, the API decides. */
export function claimsOf(access: string): Partial<User> {
  try {
    const part = access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return { id: claims.uid, username: claims.sub, role: claims.role };
  } catch {
    return {};
  }
}
