// One link's migration: start it (a period, a dry run), watch it (posts/s against MAX's limit, the job's counts
// and ETA through JobPanel, the log's counts over every run), pause, resume and cancel it.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Alert, Button, Card, Checkbox, DatePicker, Form, Progress, Space, Statistic, Tooltip, Typography } from "antd";
import type { Dayjs } from "dayjs";
import { useEffect, useRef, useState } from "react";
import { ApiError } from "@/api/client";
import { isClosed, type JobSnapshot } from "@/api/jobs";
import type { User } from "@/api/session";
import { JobPanel } from "@/components/JobPanel";
import { useErrorText } from "@/errors";
import { parseTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive, useSnapshot } from "@/jobsLive";
import { may } from "@/roles";
import { migrationState, pauseMigration, resumeMigration, startMigration, type LogStatus, type RateLimit } from "./api";

const POLL_MS = 2000;
// The rate while running is the change over this many last seconds.
const RATE_WINDOW_MS = 10_000;

const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);

/** Posts published per second. While the job runs: the change of the log's published posts over the last seconds (the
 * job's own posts_published moves only when a publish step ends, which in a big channel is many minutes apart).
 * Once it has ended: the run's posts_published over its duration (which leaves out the posts of a publish step a
 * pause stopped: after a pause it undercounts). */
export function usePublishRate(snap: JobSnapshot | undefined, published: number | undefined, at: number): number | null {
  const samples = useRef<{ at: number; published: number }[]>([]);
  const [rate, setRate] = useState<number | null>(null);
  const closed = !snap || isClosed(snap.status);
  useEffect(() => {
    if (closed) {
      samples.current = [];
      const end = parseTime(snap?.updated_at)?.getTime();
      const started = parseTime(snap?.started_at)?.getTime();
      const posts = num(snap?.details.posts_published);
      setRate(end !== undefined && started !== undefined && end > started && posts > 0 ? posts / ((end - started) / 1000) : null);
      return;
    }
    if (published === undefined || !at) return;
    const list = samples.current;
    const last = list.at(-1);
    if (last && published < last.published) list.length = 0;
    if (!last || at > last.at) list.push({ at, published });
    while (list.length > 2 && list[0].at < at - RATE_WINDOW_MS) list.shift();
    const first = list[0];
    setRate(list.length >= 2 && at > first.at ? ((published - first.published) * 1000) / (at - first.at) : null);
  }, [closed, snap, published, at]);
  return rate;
}

function RateMeter({ snap, limit, rate }: { snap: JobSnapshot | undefined; limit: RateLimit | undefined; rate: number | null }) {
  const { t } = useI18n();
  const ceiling = limit?.messages_per_second ?? 0;
  const running = snap && !isClosed(snap.status);
  const percent = rate !== null && ceiling > 0 ? Math.min(100, Math.round((rate / ceiling) * 100)) : 0;
  const limitText = limit
    ? t(limit.chat_messages_per_second ? "xpost.rate.limitBoth" : "xpost.rate.limitToken", {
        chat: limit.chat_messages_per_second ?? 0,
        token: limit.requests_per_second,
        headroom: Math.round(limit.headroom * 100),
      })
    : "";
  return (
    <Space direction="vertical" size={2} style={{ minWidth: 260 }} data-testid="xpost-rate" data-rate={rate ?? ""}>
      <Statistic
        title={t(running ? "xpost.rate.now" : "xpost.rate.average")}
        value={rate === null ? "—" : rate.toFixed(2)}
        suffix={<Tooltip title={limitText}><span>/ {ceiling} {t("xpost.rate.unit")}</span></Tooltip>}
      />
      <Progress percent={percent} size="small" showInfo={false} status={running ? "active" : "normal"} />
      <Typography.Text type="secondary" style={{ fontSize: 12 }}>{limitText}</Typography.Text>
    </Space>
  );
}

const COUNT_COLORS: Record<LogStatus, string | undefined> = { pending: undefined, success: "#389e0d", skipped: "#8c8c8c", failed: "#cf1322" };

function Details({ snap }: { snap: JobSnapshot }) {
  const { t } = useI18n();
  const d = snap.details;
  const dry = d.dry_run === true;
  const items: [string, unknown][] = [
    [t(dry ? "xpost.detail.wouldPublish" : "xpost.detail.published"), dry ? d.would_publish : d.posts_published],
    [t("xpost.detail.media"), d.media_files],
    [t("xpost.detail.already"), d.already_migrated],
    [t("xpost.detail.outside"), d.outside_period],
    [t("xpost.detail.unsupported"), d.unsupported],
  ];
  return (
    <Space size="large" wrap data-testid="xpost-details">
      {items.map(([label, value]) => (
        <Statistic key={label} title={label} value={num(value)} valueStyle={{ fontSize: 18 }} />
      ))}
    </Space>
  );
}

export function Migration({ linkId, user, onJobEnded }: { linkId: number; user: User; onJobEnded: () => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { track } = useJobsLive();
  const staff = may.editCrossposting(user.role);
  const jobId = `migration-link-${linkId}`;
  const snap = useSnapshot(jobId);
  const running = !!snap && !isClosed(snap.status);
  const state = useQuery({
    queryKey: ["xpost", "state", linkId],
    queryFn: () => migrationState(linkId),
    refetchInterval: running ? POLL_MS : false,
  });
  // The link's job, if there is one this user may see (its owner's and admins'): a 404 is "none to watch".
  const job = useQuery({
    queryKey: ["xpost", "job", jobId],
    queryFn: () => track(jobId).then(() => true, (error) => {
      if (error instanceof ApiError && error.status === 404) return false;
      throw error;
    }),
    retry: false,
  });
  const [busy, setBusy] = useState(false);
  const [form] = Form.useForm<{ period?: [Dayjs | null, Dayjs | null] | null; dry_run?: boolean }>();

  // When a run of the job ends (this one, or a retry's short run seen only closed): its counts and rows once more.
  const ended = snap && isClosed(snap.status) ? `${snap.status}@${snap.updated_at}` : null;
  const seen = useRef<string | null>(null);
  useEffect(() => {
    if (ended && ended !== seen.current) {
      queryClient.invalidateQueries({ queryKey: ["xpost", "state", linkId] });
      onJobEnded();
    }
    seen.current = ended;
  }, [ended, linkId, queryClient, onJobEnded]);

  const act = async (run: () => Promise<unknown>, done?: string) => {
    setBusy(true);
    try {
      await run();
      if (done) message.success(done);
      await track(jobId).catch(() => {});
      queryClient.invalidateQueries({ queryKey: ["xpost", "job", jobId] });
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };

  const start = (values: { period?: [Dayjs | null, Dayjs | null] | null; dry_run?: boolean }) =>
    act(async () => {
      const [since, until] = values.period ?? [];
      const started = await startMigration({
        link_id: linkId,
        since: since ? since.toISOString() : undefined,
        until: until ? until.toISOString() : undefined,
        dry_run: !!values.dry_run,
      });
      message.info(t(started.joined ? "xpost.migration.joined" : "xpost.migration.started"));
      queryClient.invalidateQueries({ queryKey: ["xpost", "state", linkId] });
    });

  const counts = state.data?.log;
  const rate = usePublishRate(snap, state.data?.posts_published, state.dataUpdatedAt);
  return (
    <Card size="small" title={t("xpost.migration.title")} data-testid="xpost-migration">
      <Space direction="vertical" style={{ width: "100%" }} size="middle">
        {staff ? (
          <Form form={form} layout="inline" onFinish={start} data-testid="xpost-start-form">
            <Form.Item name="period" label={t("xpost.migration.period")}>
              <DatePicker.RangePicker showTime allowEmpty={[true, true]} placeholder={[t("xpost.migration.since"), t("xpost.migration.until")]} />
            </Form.Item>
            <Form.Item name="dry_run" valuePropName="checked">
              <Checkbox>{t("xpost.migration.dryRun")}</Checkbox>
            </Form.Item>
            <Form.Item>
              <Space>
                <Tooltip title={running ? t("xpost.migration.alreadyRunning") : undefined}>
                  <Button type="primary" htmlType="submit" loading={busy} disabled={running}>{t("xpost.migration.start")}</Button>
                </Tooltip>
                {snap?.status === "running" && (
                  <Button onClick={() => act(() => pauseMigration(linkId), t("xpost.migration.pauseAsked"))} disabled={busy}>{t("xpost.migration.pause")}</Button>
                )}
                {snap?.status === "paused" && (
                  <Button type="primary" ghost onClick={() => act(() => resumeMigration(linkId), t("xpost.migration.resumeAsked"))} disabled={busy}>{t("xpost.migration.resume")}</Button>
                )}
              </Space>
            </Form.Item>
          </Form>
        ) : (
          <Typography.Text type="secondary">{t("xpost.readOnly", { role: user.role })}</Typography.Text>
        )}
        <Space size={48} wrap align="start">
          <RateMeter snap={snap} limit={state.data?.rate_limit} rate={rate} />
          <Space direction="vertical" size={2}>
            <Typography.Text type="secondary">{t("xpost.migration.logCounts")}</Typography.Text>
            <Space size="large" wrap data-testid="xpost-counts"
              {...Object.fromEntries(Object.entries(counts ?? {}).map(([key, value]) => [`data-${key}`, value]))}>
              {(["pending", "success", "skipped", "failed"] as LogStatus[]).map((key) => (
                <Statistic key={key} title={t(`xpost.log.${key}`)} value={counts?.[key] ?? "—"} valueStyle={{ color: COUNT_COLORS[key] }} />
              ))}
            </Space>
          </Space>
        </Space>
        {state.error && <Typography.Text type="danger">{errorText(state.error)}</Typography.Text>}
        {snap ? (
          <>
            <Details snap={snap} />
            <JobPanel jobId={jobId} title={t(snap.details.dry_run === true ? "xpost.migration.jobDry" : "xpost.migration.job")}
              canCancel={snap.owner === user.username || user.role === "admin"} />
          </>
        ) : job.data === false ? (
          <Alert type="info" showIcon message={t("xpost.migration.noJob")} data-testid="xpost-no-job" />
        ) : job.error ? (
          <Typography.Text type="danger">{errorText(job.error)}</Typography.Text>
        ) : null}
      </Space>
    </Card>
  );
}
