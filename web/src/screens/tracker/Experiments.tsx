import type { User } from "@/api/session";

// The tracker's experiments tab (web/src/screens/tracker/index.tsx).
export function Experiments(_: { user: User }) {
  return null;
}
