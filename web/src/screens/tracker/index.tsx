// The tracker: its tabs, each its own file. Staff run and review; admins also configure agents and providers.
import { Tabs } from "antd";
import { useSearchParams } from "react-router-dom";
import type { User } from "@/api/session";
import { useI18n } from "@/i18n";
import type { MessageKey } from "@/i18n/en";
import { may } from "@/roles";
import { Analysis } from "./Analysis";
import { Experiments } from "./Experiments";
import { Ingestion } from "./Ingestion";
import { Knowledge } from "./Knowledge";
import { Messages, useTrackerEvents } from "./Messages";
import { Search } from "./Search";
import { Settings } from "./Settings";

const TABS: { key: string; label: MessageKey; Component: (props: { user: User }) => React.ReactNode; allowed: (user: User) => boolean }[] = [
  { key: "messages", label: "tracker.tab.messages", Component: Messages, allowed: () => true },
  { key: "knowledge", label: "tracker.tab.knowledge", Component: Knowledge, allowed: () => true },
  { key: "search", label: "tracker.tab.search", Component: Search, allowed: () => true },
  { key: "ingestion", label: "tracker.tab.ingestion", Component: Ingestion, allowed: (user) => may.runTracker(user.role) },
  { key: "analysis", label: "tracker.tab.analysis", Component: Analysis, allowed: (user) => may.runTracker(user.role) },
  { key: "experiments", label: "tracker.tab.experiments", Component: Experiments, allowed: (user) => may.runTracker(user.role) },
  { key: "settings", label: "tracker.tab.settings", Component: Settings, allowed: (user) => may.adminTracker(user.role) },
];

export function Tracker({ user }: { user: User }) {
  const { t } = useI18n();
  useTrackerEvents(user); // the events socket for every tab, and each *.failed event as a notice to staff
  // The tab is in the URL (?tab=), so a reload or a shared link opens the same one.
  const [params, setParams] = useSearchParams();
  const tabs = TABS.filter((tab) => tab.allowed(user));
  const active = tabs.find((tab) => tab.key === params.get("tab"))?.key ?? tabs[0].key;
  return (
    <Tabs
      activeKey={active}
      onChange={(key) => setParams({ tab: key })}
      destroyOnHidden
      items={tabs.map((tab) => ({ key: tab.key, label: t(tab.label), children: <tab.Component user={user} /> }))}
    />
  );
}
