// What each role may do, as the API enforces it (api/deps.py and each router's checks): a screen offers only these.
import type { Role } from "./api/session";

const PEOPLE: Role[] = ["admin", "manager", "user"];
const STAFF: Role[] = ["admin", "manager"];

export const may = {
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
};
