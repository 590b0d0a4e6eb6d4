// One job, live: status, progress, counts, ETA, what it is doing, the step it is retrying and why, its errors and,
// once closed, its result. Every screen that starts a job shows it with this.
import { Button, Card, Descriptions, Popconfirm, Progress, Space, Typography, App as AntApp } from "antd";
import { useEffect } from "react";
import { cancelJob, isClosed, type JobSnapshot } from "@/api/jobs";
import { useErrorText } from "@/errors";
import { formatDuration, formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive, useSnapshot } from "@/jobsLive";
import { OutsideLink } from "@/safe";
import { useConfig } from "@/Shell";
import { JobStatusTag } from "./JobStatusTag";
import { useJobTypeName } from "./JobTypeName";

type TemporalConfig = { temporal_ui_url: string; temporal_namespace: string } | undefined;

/** The Web UI's workflows of this deployment's namespace, or null when the API names no Web UI. */
function temporalWorkflows(config: TemporalConfig): string | null {
  if (!config?.temporal_ui_url) return null;
  return `${config.temporal_ui_url}/namespaces/${encodeURIComponent(config.temporal_namespace || "default")}/workflows`;
}

export function temporalJobUrl(config: TemporalConfig, jobId: string) {
  const base = temporalWorkflows(config);
  return base && `${base}/${encodeURIComponent(jobId)}`;
}

/** The Web UI's list of jobs: workflows that carry a JobType (housekeeping sweeps carry none and stay out of it). */
export function temporalJobsUrl(config: TemporalConfig) {
  const base = temporalWorkflows(config);
  return base && `${base}?query=${encodeURIComponent("JobType IS NOT NULL")}`;
}

/** Cancel a job as every screen does: ask the API, say so, and read the job again for its new status. */
export function useCancelJob(): (jobId: string) => Promise<void> {
  const { t } = useI18n();
  const { track } = useJobsLive();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  return (jobId) =>
    cancelJob(jobId, "cancelled from the dashboard").then(
      () => {
        message.info(t("jobs.cancelled"));
        track(jobId).catch(() => {});
      },
      (error) => {
        message.error(errorText(error));
      },
    );
}

export function JobProgressBar({ snap }: { snap: JobSnapshot }) {
  const status = snap.status === "failed" ? "exception" : snap.status === "completed" ? "success" : isClosed(snap.status) ? "normal" : "active";
  return <Progress percent={Math.floor(snap.percent)} status={status} size="small" data-testid="job-progress" data-percent={snap.percent} />;
}

export function JobPanel({ jobId, title, onClose, canCancel = true, extra }: {
  jobId: string;
  title?: string;
  onClose?: () => void;
  canCancel?: boolean;
  extra?: React.ReactNode;
}) {
  const { t, language } = useI18n();
  const { track } = useJobsLive();
  const snap = useSnapshot(jobId);
  const { data: config } = useConfig();
  useEffect(() => {
    if (!snap) track(jobId).catch(() => {});
  }, [jobId, snap, track]);
  const typeName = useJobTypeName();
  const cancel = useCancelJob();
  const temporal = temporalJobUrl(config, jobId);
  return (
    <Card
      size="small"
      data-testid="job-panel"
      data-job-id={jobId}
      title={<Space>{title ?? (snap ? typeName(snap.type) : jobId)}{snap && <JobStatusTag status={snap.status} retrying={snap.retrying} />}</Space>}
      extra={
        <Space>
          {extra}
          {snap && !isClosed(snap.status) && canCancel && (
            <Popconfirm title={t("jobs.cancelConfirm")} okText={t("app.yes")} cancelText={t("app.no")}
              onConfirm={() => cancel(jobId)}>
              <Button danger size="small">{t("jobs.cancel")}</Button>
            </Popconfirm>
          )}
          {temporal && <OutsideLink url={temporal}>{t("jobs.openInTemporal")}</OutsideLink>}
          {onClose && <Button size="small" type="text" onClick={onClose}>{t("app.close")}</Button>}
        </Space>
      }
    >
      {!snap ? (
        <Typography.Text type="secondary">{t("app.loading")}</Typography.Text>
      ) : (
        <Space direction="vertical" style={{ width: "100%" }}>
          <JobProgressBar snap={snap} />
          <Descriptions size="small" column={{ xs: 1, md: 2 }}>
            <Descriptions.Item label={t("jobs.progress")}>
              <span data-testid="job-counts">{t("jobs.counts", { processed: snap.processed, total: snap.total, succeeded: snap.succeeded, skipped: snap.skipped, failed: snap.failed })}</span>
            </Descriptions.Item>
            <Descriptions.Item label={t("jobs.eta")}>{snap.retrying ? t("app.none") : formatDuration(snap.eta_seconds)}</Descriptions.Item>
            <Descriptions.Item label={t("jobs.started")}>{formatTime(snap.started_at, language)}</Descriptions.Item>
            <Descriptions.Item label={t("jobs.owner")}>{snap.owner}</Descriptions.Item>
            {snap.message && (
              <Descriptions.Item label={t("jobs.message")} span={2}>
                <span className="pre-line wrap-anywhere" data-testid="job-message">{snap.message}</span>
              </Descriptions.Item>
            )}
            {snap.retrying && (
              <Descriptions.Item label={t("jobs.lastError")} span={2}>
                <span className="wrap-anywhere" data-testid="job-last-error">{snap.retrying.last_error}</span>
              </Descriptions.Item>
            )}
          </Descriptions>
          {snap.errors.length > 0 && (
            <details>
              <summary>{t("jobs.errors")} ({snap.errors.length})</summary>
              <ul data-testid="job-errors">
                {snap.errors.slice(-20).map((e, i) => (
                  <li key={i} className="wrap-anywhere"><span className="mono">{e.item}</span>: {e.error}</li>
                ))}
              </ul>
            </details>
          )}
          {snap.result && (
            <details>
              <summary>{t("jobs.result")}</summary>
              <pre className="mono wrap-anywhere" data-testid="job-result">{JSON.stringify(snap.result, null, 2)}</pre>
            </details>
          )}
        </Space>
      )}
    </Card>
  );
}
