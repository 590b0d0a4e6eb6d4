// What each role may do, as the API enforces it (api/deps.py and each router's checks): a screen offers only these.
import type { Role } from "./api/session";

const PEOPLE: Role[] = ["admin", "manager", "user"];
const STAFF: Role[] = ["admin", "manager"];

// The job types a closed job of which may be started again with its input, and who may (api/job_reruns.py).
const RERUNS: Record<string, Role[]> = {
  news_discovery: PEOPLE,
  channel_migration: STAFF,
  sync_bank_transactions: STAFF,
  sync_contractors: STAFF,
  message_scoring: STAFF,
  tracker_embeddings: STAFF,
};

export const may = {
  rerun: (role: Role, jobType: string | null | undefined) => !!jobType && (RERUNS[jobType] ?? []).includes(role),
  startJobs: (role: Role) => PEOPLE.includes(role),
  seeAllJobs: (role: Role) => role === "admin",
  cancelMany: (role: Role) => role === "admin",
  seeServices: (role: Role) => role === "admin",
  editDrafts: (role: Role) => STAFF.includes(role),
  editSources: (role: Role) => STAFF.includes(role),
  sync1c: (role: Role) => STAFF.includes(role),
  edit1c: (role: Role) => STAFF.includes(role),
  runTracker: (role: Role) => STAFF.includes(role),
  adminTracker: (role: Role) => role === "admin",
  crosspost: (role: Role) => PEOPLE.includes(role),
  editCrossposting: (role: Role) => STAFF.includes(role),
  askWebBuddy: (role: Role) => PEOPLE.includes(role),
  // The API shows admins (and workers) every project and query; others only their own.
  seeAllWebBuddy: (role: Role) => role === "admin",
};
