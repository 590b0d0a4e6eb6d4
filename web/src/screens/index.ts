// The screens, in menu order, and which roles each is for (a role sees only the screens it can use).
import { lazy, type ComponentType } from "react";
import type { Role, User } from "@/api/session";
import type { MessageKey } from "@/i18n/en";
import { may } from "@/roles";
import { Jobs } from "./Jobs";

// Each application's screen is its own file, fetched when first opened: the first load carries the shell and Jobs.
const News = lazy(() => import("./news").then((module) => ({ default: module.News })));
const WebBuddy = lazy(() => import("./webbuddy").then((module) => ({ default: module.WebBuddy })));
const Crossposting = lazy(() => import("./crossposting").then((module) => ({ default: module.Crossposting })));
const OneC = lazy(() => import("./onec").then((module) => ({ default: module.OneC })));
const Tracker = lazy(() => import("./tracker").then((module) => ({ default: module.Tracker })));

export interface Screen {
  path: string;
  label: MessageKey;
  allowed: (role: Role) => boolean;
  Component: ComponentType<{ user: User }>;
}

const PEOPLE: Role[] = ["admin", "manager", "user"];

export const SCREENS: Screen[] = [
  { path: "/jobs", label: "nav.jobs", allowed: (role) => PEOPLE.includes(role), Component: Jobs },
  { path: "/news", label: "nav.news", allowed: (role) => PEOPLE.includes(role), Component: News },
  { path: "/webbuddy", label: "nav.webbuddy", allowed: (role) => may.askWebBuddy(role), Component: WebBuddy },
  { path: "/crossposting", label: "nav.crossposting", allowed: (role) => PEOPLE.includes(role), Component: Crossposting },
  { path: "/1c", label: "nav.onec", allowed: (role) => PEOPLE.includes(role), Component: OneC },
  { path: "/tracker", label: "nav.tracker", allowed: (role) => PEOPLE.includes(role), Component: Tracker },
];
