import type { User } from "@/api/session";

// The tracker's ingestion tab (web/src/screens/tracker/index.tsx).
export function Ingestion(_: { user: User }) {
  return null;
}
