import type { User } from "@/api/session";

// The tracker's knowledge tab (web/src/screens/tracker/index.tsx).
export function Knowledge(_: { user: User }) {
  return null;
}
