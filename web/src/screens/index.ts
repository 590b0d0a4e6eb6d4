// The screens, in menu order, and which roles each is for (a role sees only the screens it can use).
import type { ComponentType } from "react";
import type { Role, User } from "@/api/session";
import type { MessageKey } from "@/i18n/en";
import { Jobs } from "./Jobs";
import { OneC } from "./onec";
import { Tracker } from "./tracker";

export interface Screen {
  path: string;
  label: MessageKey;
  allowed: (role: Role) => boolean;
  Component: ComponentType<{ user: User }>;
}

const PEOPLE: Role[] = ["admin", "manager", "user"];

export const SCREENS: Screen[] = [
  { path: "/jobs", label: "nav.jobs", allowed: (role) => PEOPLE.includes(role), Component: Jobs },
  { path: "/1c", label: "nav.onec", allowed: (role) => PEOPLE.includes(role), Component: OneC },
  { path: "/tracker", label: "nav.tracker", allowed: (role) => PEOPLE.includes(role), Component: Tracker },
];
