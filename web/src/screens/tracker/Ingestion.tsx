// The tracker's ingestion tab (web/src/screens/tracker/index.tsx): import a chat's history (admins and managers),
// watch the job live (JobPanel), and every ingestion with its counts and, when it failed, why. The list follows the
// ingestion.* events, and polls while one runs in case the socket is down or the job is someone else's.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Button, Card, DatePicker, Empty, Form, Input, InputNumber, Popconfirm, Select, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { get, post } from "@/api/client";
import type { JobStatus } from "@/api/jobs";
import type { User } from "@/api/session";
import { JobPanel } from "@/components/JobPanel";
import { JobStatusTag } from "@/components/JobStatusTag";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive } from "@/jobsLive";
import { may } from "@/roles";
import { EventsBadge, useThrottledInvalidate, useTrackerEvent, type Page } from "./Messages";

type RowStatus = Extract<JobStatus, "pending" | "running" | "completed" | "failed" | "cancelled">;
const STATUSES: RowStatus[] = ["pending", "running", "completed", "failed", "cancelled"];
const OPEN = new Set<RowStatus>(["pending", "running"]);
const POLL_MS = 3000;

interface IngestionRow {
  id: number;
  job_id: string | null;
  chat: string;
  limit: number | null;
  since: string | null;
  status: RowStatus;
  created_by: number | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  messages_fetched: number;
  messages_saved: number;
  messages_skipped: number;
  errors_count: number;
  error_message: string | null;
}

interface StartForm {
  chat: string;
  limit?: number | null;
  since?: { toISOString(): string } | null;
}

function StartIngestion({ onStarted }: { onStarted: (row: IngestionRow) => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const [form] = Form.useForm<StartForm>();
  const [busy, setBusy] = useState(false);
  const submit = async (values: StartForm) => {
    setBusy(true);
    try {
      const row = await post<IngestionRow>("/api/v1/ingestion", {
        chat: values.chat.trim(),
        limit: values.limit ?? undefined,
        since: values.since ? values.since.toISOString() : undefined,
      });
      message.success(t("tracker.ingestion.started", { chat: row.chat }));
      onStarted(row);
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card size="small" title={t("tracker.ingestion.new")}>
      <Form<StartForm> form={form} layout="inline" onFinish={submit} data-testid="ingestion-form" style={{ rowGap: 8 }}>
        <Form.Item name="chat" label={t("tracker.ingestion.chat")} rules={[{ required: true, whitespace: true, message: t("tracker.ingestion.chatRequired") }]}
          tooltip={t("tracker.ingestion.chatHint")}>
          <Input placeholder="@team_chat · t.me/team_chat · -1001234567890" style={{ width: 300 }} maxLength={200} />
        </Form.Item>
        <Form.Item name="limit" label={t("tracker.ingestion.limit")} tooltip={t("tracker.ingestion.limitHint")}>
          <InputNumber min={1} max={10000000} placeholder={t("tracker.ingestion.everything")} style={{ width: 160 }} />
        </Form.Item>
        <Form.Item name="since" label={t("tracker.ingestion.since")} tooltip={t("tracker.ingestion.sinceHint")}>
          <DatePicker showTime disabledDate={(day) => day.valueOf() > Date.now()} />
        </Form.Item>
        <Form.Item>
          <Button type="primary" htmlType="submit" loading={busy}>{t("tracker.ingestion.start")}</Button>
        </Form.Item>
      </Form>
    </Card>
  );
}

export function Ingestion({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { track } = useJobsLive();
  const [status, setStatus] = useState<RowStatus | undefined>();
  const [page, setPage] = useState(1);
  const [watched, setWatched] = useState<IngestionRow | null>(null);
  const query = { status, limit: 20, offset: (page - 1) * 20 };
  const rows = useQuery({
    queryKey: ["tracker", "ingestions", query],
    queryFn: () => get<Page<IngestionRow>>("/api/v1/ingestion", query),
    placeholderData: (previous) => previous,
    refetchInterval: (q) => (q.state.data?.items.some((row) => OPEN.has(row.status)) ? POLL_MS : false),
  });
  const refetch = useThrottledInvalidate([["tracker", "ingestions"]]);
  useTrackerEvent((event) => {
    if (event.type.startsWith("ingestion.")) refetch();
  });
  const staff = may.runTracker(user.role);
  // The job behind a row is readable (and cancellable) by whoever started it, and by admins.
  const mine = (row: IngestionRow) => row.created_by === user.id || user.role === "admin";

  const cancel = (row: IngestionRow) =>
    post(`/api/v1/ingestion/${row.id}/cancel`, { reason: "cancelled from the dashboard" }).then(
      () => {
        message.info(t("jobs.cancelled"));
        if (row.job_id) track(row.job_id).catch(() => {});
        queryClient.invalidateQueries({ queryKey: ["tracker", "ingestions"] });
      },
      (error) => message.error(errorText(error)),
    );

  return (
    <Space orientation="vertical" style={{ width: "100%" }} size="middle">
      {staff ? (
        <StartIngestion onStarted={(row) => {
          setWatched(row);
          if (row.job_id) track(row.job_id).catch(() => {});
          queryClient.invalidateQueries({ queryKey: ["tracker", "ingestions"] });
        }} />
      ) : (
        <Typography.Text type="secondary">{t("app.notAllowed", { role: user.role })}</Typography.Text>
      )}
      {watched?.job_id && mine(watched) && (
        <JobPanel key={watched.job_id} jobId={watched.job_id} canCancel={false} onClose={() => setWatched(null)}
          title={t("tracker.ingestion.of", { chat: watched.chat })} />
      )}
      <Space wrap style={{ width: "100%", justifyContent: "space-between" }}>
        <Space wrap>
          <Typography.Title level={5} style={{ margin: 0 }}>{t("tracker.ingestion.history")}</Typography.Title>
          <Select<RowStatus> allowClear placeholder={t("jobs.allStatuses")} value={status} style={{ minWidth: 160 }} aria-label={t("jobs.status")}
            onChange={(value) => { setStatus(value); setPage(1); }}
            options={STATUSES.map((value) => ({ value, label: t(`status.${value}`) }))} />
          <Button onClick={() => rows.refetch()}>{t("app.refresh")}</Button>
        </Space>
        <EventsBadge />
      </Space>
      {rows.error && <Typography.Text type="danger">{errorText(rows.error)}</Typography.Text>}
      <Table<IngestionRow> data-testid="ingestions-table" rowKey="id" size="small" loading={rows.isLoading} dataSource={rows.data?.items ?? []}
        locale={{ emptyText: <Empty description={t("tracker.ingestion.empty")} /> }}
        pagination={{ current: page, pageSize: 20, total: rows.data?.total ?? 0, onChange: setPage, hideOnSinglePage: true, size: "small" }}
        onRow={(row) => ({ "data-ingestion-id": row.id, "data-status": row.status }) as React.HTMLAttributes<HTMLElement>}
        columns={[
          { title: "#", width: 60, render: (_, row) => <span className="mono">{row.id}</span> },
          { title: t("tracker.ingestion.chat"), render: (_, row) => (
            <Space orientation="vertical" size={0}>
              <span className="wrap-anywhere">{row.chat}</span>
              {(row.limit !== null || row.since) && (
                <Typography.Text type="secondary">
                  {[row.limit !== null ? t("tracker.ingestion.newest", { count: row.limit }) : null,
                    row.since ? t("tracker.ingestion.sinceTime", { time: formatTime(row.since, language) }) : null].filter(Boolean).join(" · ")}
                </Typography.Text>
              )}
            </Space>
          ) },
          { title: t("jobs.status"), width: 120, render: (_, row) => <JobStatusTag status={row.status} /> },
          { title: t("tracker.ingestion.counts"), render: (_, row) => (
            <Space size={4} wrap data-testid="ingestion-counts">
              <Tag>{t("tracker.ingestion.fetched", { count: row.messages_fetched })}</Tag>
              <Tag color="green" data-testid="ingestion-saved" data-count={row.messages_saved}>{t("tracker.ingestion.saved", { count: row.messages_saved })}</Tag>
              <Tag>{t("tracker.ingestion.skipped", { count: row.messages_skipped })}</Tag>
              {row.errors_count > 0 && <Tag color="red">{t("tracker.ingestion.errors", { count: row.errors_count })}</Tag>}
            </Space>
          ) },
          { title: t("jobs.started"), width: 150, render: (_, row) => formatTime(row.started_at ?? row.created_at, language) },
          { title: t("jobs.closed"), width: 150, render: (_, row) => formatTime(row.completed_at, language) },
          { title: t("tracker.ingestion.error"), render: (_, row) =>
            row.error_message ? <Typography.Text type="danger" className="wrap-anywhere" data-testid="ingestion-error">{row.error_message}</Typography.Text> : "—" },
          { title: t("jobs.actions"), width: 170, render: (_, row) => (
            <Space>
              {row.job_id && mine(row) && (
                <Button size="small" onClick={() => { setWatched(row); track(row.job_id!).catch(() => {}); }} disabled={watched?.id === row.id}>
                  {t("jobs.details")}
                </Button>
              )}
              {staff && mine(row) && OPEN.has(row.status) && (
                <Popconfirm title={t("jobs.cancelConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={() => cancel(row)}>
                  <Button size="small" danger>{t("jobs.cancel")}</Button>
                </Popconfirm>
              )}
            </Space>
          ) },
        ]} />
    </Space>
  );
}
