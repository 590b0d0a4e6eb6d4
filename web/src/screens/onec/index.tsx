// 1C: the sync dialog (the 1C front end's SyncModal and TaskProgress), each kind's last sync, and the books it fills:
// transactions (filtered, a person's category), contractors, classification rules and the schedules. Admins and
// managers sync and edit; users read. While a sync runs, what it writes shows up without a reload.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Button, Space, Tabs, Tooltip, Typography } from "antd";
import dayjs from "dayjs";
import "dayjs/locale/ru";
import "dayjs/locale/uk";
import { useEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { lastSyncs } from "@/api/onec";
import type { User } from "@/api/session";
import SyncModal from "@/components/SyncModal";
import { useI18n } from "@/i18n";
import type { MessageKey } from "@/i18n/en";
import { may } from "@/roles";
import { Contractors } from "./Contractors";
import { LastSyncs } from "./LastSyncs";
import { Rules } from "./Rules";
import { Schedules } from "./Schedules";
import { Transactions, type ContractorChoice } from "./Transactions";

const RUNNING_MS = 2000;
const IDLE_MS = 15000;

/** Each kind's last sync, asked often while one runs; when one ends, the books are read again. */
export function useLastSyncs(watching = false) {
  const queryClient = useQueryClient();
  const query = useQuery({
    queryKey: ["onec", "last-syncs"],
    queryFn: lastSyncs,
    // Often while one runs, or while the sync dialog is open (a sync started there shows at once).
    refetchInterval: (q) => (watching || q.state.data?.some((kind) => kind.running) ? RUNNING_MS : IDLE_MS),
  });
  const running = query.data?.filter((kind) => kind.running).map((kind) => kind.kind).join(",") ?? "";
  const before = useRef(running);
  useEffect(() => {
    if (before.current && before.current !== running) {
      // A sync ended (or another began): what it wrote is there now.
      queryClient.invalidateQueries({ queryKey: ["onec", "books"] });
    }
    before.current = running;
  }, [running, queryClient]);
  return { ...query, bankRunning: running.includes("bank-transactions"), contractorsRunning: running.includes("contractors") };
}

const TABS: { key: string; label: MessageKey }[] = [
  { key: "transactions", label: "onec.tab.transactions" },
  { key: "contractors", label: "onec.tab.contractors" },
  { key: "rules", label: "onec.tab.rules" },
  { key: "schedules", label: "onec.tab.schedules" },
];

export function OneC({ user }: { user: User }) {
  const { t, language } = useI18n();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const [syncOpen, setSyncOpen] = useState(false);
  const [contractor, setContractor] = useState<ContractorChoice | null>(null);
  const syncs = useLastSyncs(syncOpen);
  dayjs.locale(language);
  const active = TABS.find((tab) => tab.key === params.get("tab"))?.key ?? "transactions";
  const canSync = may.sync1c(user.role);

  const showTransactionsOf = (choice: ContractorChoice) => {
    setContractor(choice);
    setParams({ tab: "transactions" });
  };

  const panes: Record<string, React.ReactNode> = {
    transactions: <Transactions user={user} live={syncs.bankRunning} contractor={contractor} onContractor={setContractor} />,
    contractors: <Contractors live={syncs.contractorsRunning} onTransactions={showTransactionsOf} />,
    rules: <Rules user={user} />,
    schedules: <Schedules user={user} />,
  };

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%" }} data-testid="onec-screen">
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("onec.title")}</Typography.Title>
        <Tooltip title={canSync ? undefined : t("onec.syncNotAllowed", { role: user.role })}>
          <Button type="primary" disabled={!canSync} onClick={() => setSyncOpen(true)} data-testid="onec-sync-open">
            {t("onec.syncButton")}
          </Button>
        </Tooltip>
      </Space>
      <LastSyncs syncs={syncs} />
      <Tabs
        activeKey={active}
        onChange={(key) => setParams({ tab: key })}
        destroyOnHidden
        items={TABS.map((tab) => ({ key: tab.key, label: t(tab.label), children: panes[tab.key] }))}
      />
      {canSync && (
        <SyncModal
          visible={syncOpen}
          onClose={() => setSyncOpen(false)}
          onSyncComplete={() => {
            queryClient.invalidateQueries({ queryKey: ["onec"] });
          }}
        />
      )}
    </Space>
  );
}
