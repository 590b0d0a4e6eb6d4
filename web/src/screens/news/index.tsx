// News: the sources a discovery reads (and how each fared last time), starting a discovery and watching it, and
// the drafts it finds, arriving while it runs. Staff edit sources and decide drafts; users start runs and read.
import { useQueryClient } from "@tanstack/react-query";
import { Button, Space, Tabs, Typography } from "antd";
import { useEffect, useRef, useSyncExternalStore } from "react";
import { useSearchParams } from "react-router-dom";
import { isClosed } from "@/api/jobs";
import { DISCOVERY_JOB } from "@/api/news";
import type { User } from "@/api/session";
import { JobPanel } from "@/components/JobPanel";
import { useI18n } from "@/i18n";
import { useJobsLive, useSnapshot } from "@/jobsLive";
import { Drafts } from "./Drafts";
import { Sources } from "./Sources";

/** The discovery to show: the one named in the URL, else one of the user's that is running now. */
function useShownDiscovery(named: string | null): string | null {
  const { store } = useJobsLive();
  useSyncExternalStore(store.subscribe, store.getVersion);
  if (named) return named;
  return store.running().find((id) => store.get(id)?.type === DISCOVERY_JOB) ?? null;
}

export function News({ user }: { user: User }) {
  const { t } = useI18n();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const jobId = useShownDiscovery(params.get("job"));
  const snap = useSnapshot(jobId);
  const running = !!snap && !isClosed(snap.status);

  // When the run ends, everything it changed is read once more (its last drafts, every source's last run).
  const wasRunning = useRef(false);
  useEffect(() => {
    if (wasRunning.current && !running) queryClient.invalidateQueries({ queryKey: ["news"] });
    wasRunning.current = running;
  }, [running, queryClient]);

  const update = (changes: Record<string, string | null>) =>
    setParams((now) => {
      const next = new URLSearchParams(now);
      Object.entries(changes).forEach(([key, value]) => (value === null ? next.delete(key) : next.set(key, value)));
      return next;
    });
  const tab = params.get("tab") === "drafts" ? "drafts" : "sources";

  return (
    <Space direction="vertical" size="middle" style={{ width: "100%" }}>
      <Typography.Title level={3} style={{ margin: 0 }}>{t("news.title")}</Typography.Title>
      {jobId && (
        <JobPanel
          jobId={jobId}
          title={t("news.discovery")}
          canCancel={snap?.owner === user.username || user.role === "admin"}
          onClose={() => update({ job: null })}
          extra={
            <Button size="small" data-testid="run-drafts" onClick={() => update({ tab: "drafts", run: jobId, page: null })}>
              {t("news.runDrafts")}
            </Button>
          }
        />
      )}
      <Tabs
        activeKey={tab}
        onChange={(key) => update({ tab: key })}
        items={[
          { key: "sources", label: t("news.tab.sources"), children: (
            <Sources user={user} live={running}
              onStarted={(id) => update({ job: id, tab: "drafts", run: id, page: null })}
              onShowRun={(runId, sourceId) => update({ tab: "drafts", run: runId, source: String(sourceId), page: null })} />
          ) },
          { key: "drafts", label: t("news.tab.drafts"), children: <Drafts user={user} live={running} /> },
        ]}
      />
    </Space>
  );
}
