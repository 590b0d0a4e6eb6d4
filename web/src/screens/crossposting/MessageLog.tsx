// A link's message log: one row per Telegram message, filtered by status on the server, paged; each failure with
// MAX's reason and the post's text (outside text: shown as text); the failed ones sent again.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Button, Empty, Popconfirm, Segmented, Space, Table, Tag, Tooltip, Typography } from "antd";
import { useState } from "react";
import { isClosed } from "@/api/jobs";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive, useSnapshot } from "@/jobsLive";
import { may } from "@/roles";
import { LOG_STATUSES, messageLog, migrationState, retryFailed, type LogRow, type LogStatus } from "./api";

const PAGE = 25;
const POLL_MS = 2000;
const COLORS: Record<LogStatus, string> = { pending: "processing", success: "success", skipped: "default", failed: "error" };

export function LogStatusTag({ status }: { status: LogStatus }) {
  const { t } = useI18n();
  return <Tag color={COLORS[status]} data-testid="xpost-log-status" data-status={status}>{t(`xpost.log.${status}`)}</Tag>;
}

export function MessageLog({ linkId, user }: { linkId: number; user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { track } = useJobsLive();
  const snap = useSnapshot(`migration-link-${linkId}`);
  const running = !!snap && !isClosed(snap.status);
  const [status, setStatus] = useState<LogStatus | "all">("all");
  const [page, setPage] = useState(1);
  const filter = status === "all" ? undefined : status;
  const rows = useQuery({
    queryKey: ["xpost", "log", linkId, filter, page],
    queryFn: () => messageLog(linkId, filter, PAGE, (page - 1) * PAGE),
    refetchInterval: running ? POLL_MS : false,
    placeholderData: (previous) => previous,
  });
  const state = useQuery({ queryKey: ["xpost", "state", linkId], queryFn: () => migrationState(linkId) });
  const failed = state.data?.log.failed ?? 0;

  const retry = () =>
    retryFailed(linkId).then(
      (started) => {
        message.info(t("xpost.log.retryStarted"));
        track(started.job_id).catch(() => {});
        queryClient.invalidateQueries({ queryKey: ["xpost"] });
      },
      (error) => message.error(errorText(error)),
    );

  return (
    <section data-testid="xpost-log">
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 8 }} wrap>
        <Space wrap>
          <Typography.Title level={5} style={{ margin: 0 }}>{t("xpost.log.title")}</Typography.Title>
          <Segmented<LogStatus | "all">
            data-testid="xpost-log-filter"
            value={status}
            onChange={(value) => { setStatus(value); setPage(1); }}
            options={[
              { value: "all", label: t("app.all") },
              ...LOG_STATUSES.map((key) => ({
                value: key,
                label: state.data ? `${t(`xpost.log.${key}`)} (${state.data.log[key]})` : t(`xpost.log.${key}`),
              })),
            ]}
          />
        </Space>
        <Space>
          <Button onClick={() => rows.refetch()}>{t("app.refresh")}</Button>
          {may.editCrossposting(user.role) && (
            <Tooltip title={failed === 0 ? t("xpost.log.noFailed") : running ? t("xpost.migration.alreadyRunning") : undefined}>
              <Popconfirm title={t("xpost.log.retryConfirm", { count: failed })} okText={t("app.yes")} cancelText={t("app.no")}
                onConfirm={retry} disabled={failed === 0 || running}>
                <Button danger disabled={failed === 0 || running}>{t("xpost.log.retry", { count: failed })}</Button>
              </Popconfirm>
            </Tooltip>
          )}
        </Space>
      </Space>
      {rows.error && <Typography.Text type="danger">{errorText(rows.error)}</Typography.Text>}
      <Table<LogRow>
        data-testid="xpost-log-table"
        rowKey="telegram_message_id"
        size="small"
        loading={rows.isLoading || (rows.isFetching && rows.isPlaceholderData)}
        dataSource={rows.data?.items ?? []}
        onRow={(row) => ({ "data-message-id": row.telegram_message_id, "data-status": row.status }) as React.HTMLAttributes<HTMLElement>}
        pagination={{ current: page, pageSize: PAGE, total: rows.data?.total ?? 0, onChange: setPage, showSizeChanger: false, hideOnSinglePage: true,
          showTotal: (total) => t("xpost.log.total", { total }) }}
        locale={{ emptyText: <Empty description={t(status === "all" ? "xpost.log.empty" : "xpost.log.emptyStatus")} /> }}
        columns={[
          { title: t("xpost.log.message"), width: 110, render: (_, row) => (
            <Space direction="vertical" size={0}>
              <span className="mono">#{row.telegram_message_id}</span>
              {row.post_id !== row.telegram_message_id && <Typography.Text type="secondary" style={{ fontSize: 12 }}>{t("xpost.log.partOf", { post: row.post_id })}</Typography.Text>}
            </Space>
          ) },
          { title: t("jobs.status"), width: 110, render: (_, row) => <LogStatusTag status={row.status} /> },
          { title: t("xpost.log.posted"), width: 180, render: (_, row) => formatTime(row.posted_at, language) },
          { title: t("xpost.log.text"), render: (_, row) => row.text
            ? <span className="pre-line wrap-anywhere xpost-text" data-testid="xpost-log-text">{row.text}</span>
            : <Typography.Text type="secondary">—</Typography.Text> },
          { title: t("xpost.log.error"), render: (_, row) => row.error
            ? <Typography.Text type={row.status === "failed" ? "danger" : "secondary"} className="wrap-anywhere" data-testid="xpost-log-error">{row.error}</Typography.Text>
            : null },
          { title: t("xpost.log.maxId"), width: 310, render: (_, row) => <span className="mono wrap-anywhere">{row.max_message_id ?? "—"}</span> },
          { title: t("xpost.log.sent"), width: 110, render: (_, row) => formatTime(row.sent_at, language) },
        ]}
      />
    </section>
  );
}
