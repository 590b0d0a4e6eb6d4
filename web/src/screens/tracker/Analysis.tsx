import type { User } from "@/api/session";

// The tracker's analysis tab (web/src/screens/tracker/index.tsx).
export function Analysis(_: { user: User }) {
  return null;
}
