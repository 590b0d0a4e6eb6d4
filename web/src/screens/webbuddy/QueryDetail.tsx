// One query opened: the question, its answer (or why there is none), and the log of each stage, growing as the
// job writes it; the job itself (cancel, retries, Temporal) below, when the query has one.
import { useQuery } from "@tanstack/react-query";
import { Alert, Button, Card, Descriptions, Empty, Space, Tag, Timeline, Typography } from "antd";
import { useEffect, useState } from "react";
import { isClosed } from "@/api/jobs";
import { getQuery, isOpenQuery, listLogs, queryJobId, type Project, type WebBuddyQuery } from "@/api/webbuddy";
import { JobPanel } from "@/components/JobPanel";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive, useSnapshot } from "@/jobsLive";
import { AnswerText } from "./AnswerText";
import { OPEN_POLL_MS, useRereadOnProgress } from "./live";
import { QueryStatusTag, stageKey } from "./QueryStatusTag";

const whileOpen = (data: WebBuddyQuery | undefined) => (data && isOpenQuery(data.status) ? OPEN_POLL_MS : false);

export function QueryDetail({ queryId, projects, onClose }: { queryId: number; projects: Project[]; onClose: () => void }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const { track } = useJobsLive();
  const jobId = queryJobId(queryId);
  const snap = useSnapshot(jobId);
  const query = useQuery({
    queryKey: ["webbuddy", "query", queryId],
    queryFn: () => getQuery(queryId),
    refetchInterval: (q) => whileOpen(q.state.data),
  });
  const open = !query.data || isOpenQuery(query.data.status);
  const logs = useQuery({
    queryKey: ["webbuddy", "logs", queryId],
    queryFn: () => listLogs(queryId),
    refetchInterval: open ? OPEN_POLL_MS : false,
  });
  useRereadOnProgress([queryId]);
  // A query answered by an external worker has no job: then there is no job panel, only the log.
  const [hasJob, setHasJob] = useState(true);
  useEffect(() => {
    setHasJob(true);
    track(jobId).catch(() => setHasJob(false));
  }, [jobId, track]);

  const data = query.data;
  const project = data && projects.find((p) => p.id === data.project);
  const stage = snap && !isClosed(snap.status) ? stageKey(snap.details.stage) : null;
  const pending = data && isOpenQuery(data.status) ? (stage ? t(stage) : t(`webbuddy.status.${data.status}`)) : undefined;

  return (
    <Card
      size="small"
      data-testid="webbuddy-query"
      data-query-id={queryId}
      title={
        <Space>
          {t("webbuddy.queryTitle", { id: queryId })}
          {data && <QueryStatusTag query={data} />}
        </Space>
      }
      extra={<Button size="small" type="text" onClick={onClose}>{t("app.close")}</Button>}
    >
      {query.error ? (
        <Typography.Text type="danger">{errorText(query.error)}</Typography.Text>
      ) : !data ? (
        <Typography.Text type="secondary">{t("app.loading")}</Typography.Text>
      ) : (
        <Space orientation="vertical" size="middle" style={{ width: "100%" }}>
          <Descriptions size="small" column={2}>
            <Descriptions.Item label={t("webbuddy.project")}>
              <span className="wrap-anywhere">{project?.name ?? `#${data.project}`}</span>
            </Descriptions.Item>
            <Descriptions.Item label={t("webbuddy.asked")}>{formatTime(data.query_created, language)}</Descriptions.Item>
            <Descriptions.Item label={t("webbuddy.started")}>{formatTime(data.query_started, language)}</Descriptions.Item>
            <Descriptions.Item label={t("webbuddy.finished")}>{formatTime(data.query_finished, language)}</Descriptions.Item>
          </Descriptions>
          <section>
            <Typography.Text strong>{t("webbuddy.question")}</Typography.Text>
            <div className="wrap-anywhere" style={{ whiteSpace: "pre-wrap" }} data-testid="webbuddy-question">{data.query_text}</div>
          </section>
          <section>
            <Typography.Text strong>{t("webbuddy.answer")}</Typography.Text>
            {data.answer_text ? (
              <AnswerText text={data.answer_text} />
            ) : (
              <div>
                <Typography.Text type="secondary" data-testid="webbuddy-no-answer">
                  {t(data.status === "failed" ? "webbuddy.noAnswerFailed" : data.status === "done" ? "webbuddy.noAnswerDone" : "webbuddy.noAnswerYet")}
                </Typography.Text>
              </div>
            )}
          </section>
          {data.error && (
            <Alert type="error" showIcon title={
              <span>{t("webbuddy.failedBecause")}: <span className="wrap-anywhere" data-testid="webbuddy-error">{data.error}</span></span>
            } />
          )}
          <section data-testid="webbuddy-log">
            <Typography.Text strong>{t("webbuddy.log")}</Typography.Text>
            {logs.error && <div><Typography.Text type="danger">{errorText(logs.error)}</Typography.Text></div>}
            {logs.data && logs.data.length === 0 && !pending ? (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("webbuddy.noLog")} />
            ) : (
              <Timeline
                style={{ marginTop: 12 }}
                items={[
                  ...(logs.data ?? []).map((entry) => ({
                    key: entry.id,
                    color: entry.log_data.startsWith("failed") ? "red" : "blue",
                    content: (
                      <div data-testid="webbuddy-log-entry">
                        <Tag>{formatTime(entry.created_at, language)}</Tag>
                        <span className="wrap-anywhere">{entry.log_data}</span>
                      </div>
                    ),
                  })),
                  ...(pending ? [{ key: "now", loading: true, content: <span data-testid="webbuddy-log-pending">{pending}</span> }] : []),
                ]}
              />
            )}
          </section>
          {hasJob && <JobPanel jobId={jobId} title={t("webbuddy.job")} />}
        </Space>
      )}
    </Card>
  );
}
