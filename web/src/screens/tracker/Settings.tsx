import type { User } from "@/api/session";

// The tracker's settings tab (web/src/screens/tracker/index.tsx).
export function Settings(_: { user: User }) {
  return null;
}
