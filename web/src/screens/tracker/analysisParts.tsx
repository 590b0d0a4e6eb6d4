// Pieces the analysis, experiments and settings tabs share: a run's or experiment's status as its job reports it
// live, one refetch when a job ends, the agent config picker, and a proposal's source messages (outside text:
// React text children only).
import { useQueries, useQuery } from "@tanstack/react-query";
import { Empty, List, Select, Space, Tag, Typography } from "antd";
import { useEffect, useRef } from "react";
import type { JobStatus } from "@/api/jobs";
import { JobStatusTag } from "@/components/JobStatusTag";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useSnapshot } from "@/jobsLive";
import { getMessage, listAgents, recordClosed, type AgentRole, type RecordStatus } from "./analysisApi";

/** The status a row's job reports now (the row itself is written a moment later). */
export function useLiveStatus(jobId: string | null, rowStatus: RecordStatus): JobStatus {
  const snap = useSnapshot(jobId);
  return snap?.status ?? rowStatus;
}

export function LiveStatus({ jobId, status }: { jobId: string | null; status: RecordStatus }) {
  const snap = useSnapshot(jobId);
  return <JobStatusTag status={snap?.status ?? status} retrying={snap?.retrying} />;
}

/** Call `onEnd` once when the job goes from open to closed (the rows it wrote are then final). */
export function useOnJobEnd(jobId: string | null | undefined, onEnd: () => void) {
  const snap = useSnapshot(jobId);
  const was = useRef<JobStatus | undefined>(undefined);
  const callback = useRef(onEnd);
  callback.current = onEnd;
  useEffect(() => {
    const before = was.current;
    was.current = snap?.status;
    if (snap && before && !recordClosed(before) && recordClosed(snap.status)) callback.current();
  }, [snap]);
}

/** The agent configs of one role; none chosen means the role's active one, as the API reads a missing id. */
export function AgentSelect({ role, value, onChange, id }: {
  role: AgentRole;
  value?: number | null;
  onChange?: (value: number | null) => void;
  id?: string;
}) {
  const { t } = useI18n();
  const agents = useQuery({ queryKey: ["tracker-agents", role], queryFn: () => listAgents(role) });
  const active = agents.data?.find((agent) => agent.active);
  return (
    <Select<number>
      id={id}
      allowClear
      style={{ minWidth: 320 }}
      loading={agents.isLoading}
      value={value ?? undefined}
      onChange={(next) => onChange?.(next ?? null)}
      placeholder={active ? t("tracker.ops.agentActive", { name: active.name }) : t("tracker.ops.agentNoneActive")}
      options={(agents.data ?? []).map((agent) => ({
        value: agent.id,
        label: agent.active ? `${agent.name} · ${t("tracker.ops.active")}` : agent.name,
      }))}
    />
  );
}

/** The messages a proposal was made from, read one by one (a proposal cites a few). */
export function SourceMessages({ ids }: { ids: number[] }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const messages = useQueries({
    queries: ids.map((id) => ({ queryKey: ["tracker-message", id], queryFn: () => getMessage(id), staleTime: 60_000 })),
  });
  if (ids.length === 0) return <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("tracker.ops.noSources")} />;
  return (
    <List
      size="small"
      data-testid="source-messages"
      header={<Typography.Text strong>{t("tracker.ops.sources")}</Typography.Text>}
      dataSource={ids.map((id, n) => ({ id, query: messages[n] }))}
      renderItem={({ id, query }) => (
        <List.Item key={id} data-message-id={id}>
          {query.data ? (
            <Space direction="vertical" size={0} style={{ width: "100%" }}>
              <Space size="small" wrap>
                <Typography.Text type="secondary">#{id}</Typography.Text>
                <Typography.Text type="secondary">{t("tracker.ops.chat")} {query.data.telegram_chat_id}</Typography.Text>
                <Typography.Text type="secondary">{formatTime(query.data.sent_at, language)}</Typography.Text>
                {query.data.noise_class && <Tag>{query.data.noise_class}</Tag>}
              </Space>
              <span className="pre-line wrap-anywhere" data-testid="source-text">{query.data.text}</span>
            </Space>
          ) : query.error ? (
            <Typography.Text type="danger">#{id}: {errorText(query.error)}</Typography.Text>
          ) : (
            <Typography.Text type="secondary">#{id} {t("app.loading")}</Typography.Text>
          )}
        </List.Item>
      )}
    />
  );
}
