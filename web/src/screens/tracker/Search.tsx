import type { User } from "@/api/session";

// The tracker's search tab (web/src/screens/tracker/index.tsx).
export function Search(_: { user: User }) {
  return null;
}
