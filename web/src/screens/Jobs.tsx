// Jobs: every job the user may see (admins: everyone's), live; the ones they watch in full; cancel and run again.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Button, Empty, Popconfirm, Select, Space, Table, Typography } from "antd";
import { useEffect, useMemo, useState } from "react";
import { cancelMany, isClosed, JOB_STATUSES, listJobs, rerunJob, type JobStatus, type JobSummary } from "@/api/jobs";
import type { User } from "@/api/session";
import { JobPanel, JobProgressBar, temporalJobsUrl, useCancelJob } from "@/components/JobPanel";
import { JobStatusTag } from "@/components/JobStatusTag";
import { useJobTypeName } from "@/components/JobTypeName";
import { useErrorText } from "@/errors";
import { formatDuration, formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive, useSnapshot } from "@/jobsLive";
import { may } from "@/roles";
import { OutsideLink } from "@/safe";
import { useConfig } from "@/Shell";
import { Services } from "./Services";

const LIST_LIMIT = 100;
const RELIST_MS = 10000;

function ProgressCell({ job }: { job: JobSummary }) {
  const snap = useSnapshot(job.job_id);
  const { t, language } = useI18n();
  if (snap) return <JobProgressBar snap={snap} />;
  // A job that ended before this page opened: what it did and when it ended, from the listing (Details: the rest).
  if (!job.closed_at) return <Typography.Text type="secondary">—</Typography.Text>;
  const time = formatTime(job.closed_at, language);
  const ended = job.processed == null
    ? t("jobs.endedAt", { time })
    : t("jobs.endedCounts", { processed: job.processed, total: job.total ?? 0, failed: job.failed ?? 0, time });
  return <Typography.Text type="secondary" data-testid="job-ended">{ended}</Typography.Text>;
}

function StatusCell({ job }: { job: JobSummary }) {
  const snap = useSnapshot(job.job_id);
  return <JobStatusTag status={snap?.status ?? job.status} retrying={snap?.retrying} />;
}

function EtaCell({ job }: { job: JobSummary }) {
  const snap = useSnapshot(job.job_id);
  return <>{snap && !isClosed(snap.status) && !snap.retrying ? formatDuration(snap.eta_seconds) : "—"}</>;
}

export function Jobs({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { watching, watch, unwatch, store, track } = useJobsLive();
  const [type, setType] = useState<string | undefined>();
  const [status, setStatus] = useState<JobStatus | undefined>();
  const typeName = useJobTypeName();
  const { data: config } = useConfig();
  const temporalJobs = temporalJobsUrl(config);
  const jobs = useQuery({
    queryKey: ["jobs", type, status],
    queryFn: () => listJobs({ type, status, limit: LIST_LIMIT }),
    refetchInterval: RELIST_MS,
  });

  // A job the socket reports that the list does not hold yet (just started, here or elsewhere): list again.
  const listed = useMemo(() => new Set(jobs.data?.jobs.map((job) => job.job_id)), [jobs.data]);
  useEffect(
    () =>
      store.subscribe(() => {
        const unknown = store.running().some((id) => !listed.has(id));
        if (unknown && !jobs.isFetching) queryClient.invalidateQueries({ queryKey: ["jobs"] });
      }),
    [store, listed, jobs.isFetching, queryClient],
  );

  const types = useMemo(
    () => [...new Set(jobs.data?.jobs.map((job) => job.type).filter((name): name is string => !!name) ?? [])].sort(),
    [jobs.data],
  );

  const cancel = useCancelJob();

  const rerun = (jobId: string) =>
    rerunJob(jobId).then(
      (started) => {
        message.success(t("jobs.rerunStarted", { jobId: started.job_id }));
        watch(started.job_id);
        queryClient.invalidateQueries({ queryKey: ["jobs"] });
      },
      (error) => message.error(errorText(error)),
    );

  const cancelMatching = () =>
    cancelMany({ type, status }, "cancelled from the dashboard (all matching)").then(
      (answer) => {
        message.info(t("jobs.cancelManyDone", { count: answer.cancelled }));
        answer.job_ids.forEach((id) => track(id).catch(() => {}));
      },
      (error) => message.error(errorText(error)),
    );

  return (
    <Space direction="vertical" size="large" style={{ width: "100%" }}>
      {watching.length > 0 && (
        <section data-testid="watching">
          <Typography.Title level={4}>{t("jobs.watching")}</Typography.Title>
          <Space direction="vertical" style={{ width: "100%" }}>
            {watching.map((jobId) => (
              <JobPanel key={jobId} jobId={jobId} onClose={() => unwatch(jobId)} />
            ))}
          </Space>
        </section>
      )}
      <section>
        <Space style={{ marginBottom: 12, width: "100%", justifyContent: "space-between" }} wrap>
          <Space align="baseline">
            <Typography.Title level={4} style={{ margin: 0 }}>{t("jobs.title")}</Typography.Title>
            {temporalJobs && <OutsideLink url={temporalJobs}>{t("app.temporalUi")}</OutsideLink>}
          </Space>
          <Space wrap>
            <Select allowClear placeholder={t("jobs.allTypes")} value={type} onChange={setType} style={{ minWidth: 200 }}
              options={types.map((name) => ({ value: name, label: typeName(name) }))} aria-label={t("jobs.type")} />
            <Select allowClear placeholder={t("jobs.allStatuses")} value={status} onChange={setStatus} style={{ minWidth: 160 }}
              options={JOB_STATUSES.map((name) => ({ value: name, label: t(`status.${name}`) }))} aria-label={t("jobs.status")} />
            <Button onClick={() => jobs.refetch()}>{t("app.refresh")}</Button>
            {may.cancelMany(user.role) && (
              <Popconfirm title={t("jobs.cancelManyConfirm")} okText={t("app.yes")} cancelText={t("app.no")}
                onConfirm={cancelMatching} disabled={!type && !status}>
                <Button danger disabled={!type && !status} title={!type && !status ? t("jobs.cancelManyNone") : undefined}>
                  {t("jobs.cancelMany")}
                </Button>
              </Popconfirm>
            )}
          </Space>
        </Space>
        {jobs.error && <Typography.Text type="danger">{errorText(jobs.error)}</Typography.Text>}
        <Table<JobSummary>
          data-testid="jobs-table"
          rowKey="job_id"
          size="small"
          loading={jobs.isLoading}
          dataSource={jobs.data?.jobs ?? []}
          pagination={{ pageSize: 20, hideOnSinglePage: true }}
          locale={{ emptyText: <Empty description={t("jobs.empty")} /> }}
          onRow={(job) => ({ "data-job-id": job.job_id }) as React.HTMLAttributes<HTMLElement>}
          columns={[
            { title: t("jobs.type"), dataIndex: "type", render: (_, job) => (
              <Space direction="vertical" size={0}>
                <span>{typeName(job.type)}</span>
                <Typography.Text type="secondary" className="mono">{job.job_id}</Typography.Text>
              </Space>
            ) },
            { title: t("jobs.status"), render: (_, job) => <StatusCell job={job} /> },
            { title: t("jobs.progress"), width: 220, render: (_, job) => <ProgressCell job={job} /> },
            { title: t("jobs.eta"), render: (_, job) => <EtaCell job={job} /> },
            ...(may.seeAllJobs(user.role) ? [{ title: t("jobs.owner"), dataIndex: "owner" }] : []),
            { title: t("jobs.started"), render: (_, job) => formatTime(job.started_at, language) },
            { title: t("jobs.actions"), render: (_, job) => {
              const live = store.get(job.job_id)?.status ?? job.status;
              return (
                <Space>
                  <Button size="small" onClick={() => watch(job.job_id)} disabled={watching.includes(job.job_id)}>
                    {t("jobs.details")}
                  </Button>
                  {!isClosed(live) && (job.owner === user.username || user.role === "admin") && (
                    <Popconfirm title={t("jobs.cancelConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={() => cancel(job.job_id)}>
                      <Button size="small" danger>{t("jobs.cancel")}</Button>
                    </Popconfirm>
                  )}
                  {isClosed(live) && may.rerun(user.role, job.type) && (
                    <Popconfirm title={t("jobs.rerunConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={() => rerun(job.job_id)}>
                      <Button size="small">{t("jobs.rerun")}</Button>
                    </Popconfirm>
                  )}
                </Space>
              );
            } },
          ]}
        />
      </section>
      {may.seeServices(user.role) && <Services />}
    </Space>
  );
}
