import type { User } from "@/api/session";

// The tracker's messages tab (web/src/screens/tracker/index.tsx).
export function Messages(_: { user: User }) {
  return null;
}
