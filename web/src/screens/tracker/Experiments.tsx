// The tracker's experiments tab: classify messages whose topic is known again with a topic_classifier agent, watch
// it live, and read its accuracy and confusion matrix (rows: the actual topic; columns: the predicted one) with its
// mistakes in view. Topic names are the LLM's words: shown as text only.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, App as AntApp, Button, Card, Col, Empty, Form, Input, InputNumber, Popconfirm, Row, Space, Statistic, Table, Typography } from "antd";
import { useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { User } from "@/api/session";
import { JobPanel } from "@/components/JobPanel";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive } from "@/jobsLive";
import { may } from "@/roles";
import { cancelExperiment, getExperiment, listExperiments, recordClosed, startExperiment, type Experiment } from "./analysisApi";
import { AgentSelect, LiveStatus, useLiveStatus, useOnJobEnd } from "./analysisParts";

const POLL_MS = 2000;

interface ExperimentForm {
  message_count: number;
  telegram_chat_id?: string;
  agent_config_id: number | null;
}

function StartExperiment({ onStarted }: { onStarted: (id: number, jobId: string) => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const [busy, setBusy] = useState(false);
  const submit = async (values: ExperimentForm) => {
    setBusy(true);
    try {
      const chat = values.telegram_chat_id?.trim();
      const started = await startExperiment({
        message_count: values.message_count,
        telegram_chat_id: chat ? Number(chat) : null,
        agent_config_id: values.agent_config_id ?? null,
      });
      message.success(t("tracker.ops.experimentStarted", { id: started.id }));
      onStarted(started.id, started.job_id);
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card size="small" title={t("tracker.ops.startExperiment")} data-testid="start-experiment">
      <Typography.Paragraph type="secondary">{t("tracker.ops.experimentHelp")}</Typography.Paragraph>
      <Form<ExperimentForm> layout="vertical" onFinish={submit} initialValues={{ message_count: 100, agent_config_id: null }}>
        <Space size="large" wrap align="start">
          <Form.Item name="message_count" label={t("tracker.ops.messageCount")} rules={[{ required: true }]}>
            <InputNumber min={1} max={1000} />
          </Form.Item>
          <Form.Item name="telegram_chat_id" label={t("tracker.ops.chatIdOptional")}
            rules={[{ pattern: /^\s*-?\d{1,19}\s*$/, message: t("tracker.ops.chatIdInvalid") }]}>
            <Input placeholder={t("tracker.ops.everyChat")} style={{ width: 200 }} />
          </Form.Item>
          <Form.Item name="agent_config_id" label={t("tracker.ops.agent")}>
            <AgentSelect role="topic_classifier" />
          </Form.Item>
        </Space>
        <Button type="primary" htmlType="submit" loading={busy}>{t("tracker.ops.startExperimentSubmit")}</Button>
      </Form>
    </Card>
  );
}

interface MatrixRow {
  actual: string;
  cells: Record<string, number>;
  total: number;
}

/** Rows: the topic a message has; columns: the one the classifier gave. The diagonal is right, the rest mistakes. */
export function ConfusionMatrix({ matrix }: { matrix: Record<string, Record<string, number>> }) {
  const { t } = useI18n();
  const { rows, predicted, mistakes } = useMemo(() => {
    const actuals = Object.keys(matrix).sort((a, b) => a.localeCompare(b));
    const extra = new Set<string>();
    Object.values(matrix).forEach((row) => Object.keys(row).forEach((name) => !(name in matrix) && extra.add(name)));
    const predicted = [...actuals, ...[...extra].sort((a, b) => a.localeCompare(b))];
    const rows: MatrixRow[] = actuals.map((actual) => ({
      actual,
      cells: matrix[actual],
      total: Object.values(matrix[actual]).reduce((sum, n) => sum + n, 0),
    }));
    const mistakes = actuals
      .flatMap((actual) => Object.entries(matrix[actual]).filter(([name, n]) => name !== actual && n > 0).map(([name, n]) => ({ actual, predicted: name, count: n })))
      .sort((a, b) => b.count - a.count);
    return { rows, predicted, mistakes };
  }, [matrix]);
  if (rows.length === 0) return <Empty description={t("tracker.ops.noMatrix")} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Text type="secondary">{t("tracker.ops.matrixHelp")}</Typography.Text>
      <div className="confusion-scroll">
        <table className="confusion" data-testid="confusion-matrix">
          <thead>
            <tr>
              <th className="confusion-corner">{t("tracker.ops.actualPredicted")}</th>
              {predicted.map((name) => <th key={name} scope="col" className="confusion-col">{name}</th>)}
              <th scope="col">{t("tracker.ops.rowTotal")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.actual}>
                <th scope="row" className="confusion-row">{row.actual}</th>
                {predicted.map((name) => {
                  const n = row.cells[name] ?? 0;
                  const kind = name === row.actual ? "hit" : n > 0 ? "miss" : "zero";
                  return (
                    <td key={name} className={`confusion-cell confusion-${kind}${n === 0 ? " confusion-empty" : ""}`} data-actual={row.actual} data-predicted={name} data-kind={kind}
                      title={`${row.actual} → ${name}: ${n}`}>
                      {n}
                    </td>
                  );
                })}
                <td className="confusion-total">{row.total}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {mistakes.length > 0 ? (
        <div data-testid="mistakes">
          <Typography.Text strong>{t("tracker.ops.mistakes", { count: mistakes.reduce((sum, m) => sum + m.count, 0) })}</Typography.Text>
          <ul className="mistakes">
            {mistakes.map((m) => (
              <li key={`${m.actual}\u0000${m.predicted}`} className="wrap-anywhere">
                {t("tracker.ops.mistake", { count: m.count, actual: m.actual, predicted: m.predicted })}
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <Typography.Text type="success">{t("tracker.ops.noMistakes")}</Typography.Text>
      )}
    </Space>
  );
}

function ExperimentDetail({ id, user }: { id: number; user: User }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const experiment = useQuery({
    queryKey: ["tracker-experiment", id],
    queryFn: () => getExperiment(id),
    refetchInterval: (query) => (query.state.data && !recordClosed(query.state.data.status) ? POLL_MS : false),
  });
  const status = useLiveStatus(experiment.data?.job_id ?? null, experiment.data?.status ?? "pending");
  useOnJobEnd(experiment.data?.job_id, () => {
    queryClient.invalidateQueries({ queryKey: ["tracker-experiment", id] });
    queryClient.invalidateQueries({ queryKey: ["tracker-experiments"] });
  });
  if (experiment.error) return <Alert type="error" message={errorText(experiment.error)} />;
  if (!experiment.data) return <Typography.Text type="secondary">{t("app.loading")}</Typography.Text>;
  const e = experiment.data;
  const open = !recordClosed(status);
  const cancel = () => cancelExperiment(e.id).then(() => message.info(t("jobs.cancelled")), (error) => message.error(errorText(error)));
  return (
    <Card size="small" data-testid="experiment-detail" data-experiment-id={e.id} title={t("tracker.ops.experimentTitle", { id: e.id })}>
      <Space direction="vertical" size="middle" style={{ width: "100%" }}>
        {e.job_id && (
          <JobPanel jobId={e.job_id} title={t("tracker.ops.experimentJob")} canCancel={false}
            extra={open && may.runTracker(user.role) && (
              <Popconfirm title={t("tracker.ops.cancelExperimentConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={cancel}>
                <Button danger size="small">{t("tracker.ops.cancelExperiment")}</Button>
              </Popconfirm>
            )} />
        )}
        {e.error_message && <Alert type="error" showIcon message={<span className="wrap-anywhere">{e.error_message}</span>} />}
        <Row gutter={16}>
          <Col xs={12} md={6}>
            <Statistic title={t("tracker.ops.accuracy")} value={e.accuracy === null ? "—" : (e.accuracy * 100).toFixed(1)} suffix={e.accuracy === null ? undefined : "%"}
              data-testid="experiment-accuracy" />
          </Col>
          <Col xs={12} md={6}><Statistic title={t("tracker.ops.correct")} value={e.correct} suffix={`/ ${e.classified}`} /></Col>
          <Col xs={12} md={6}><Statistic title={t("tracker.ops.wrong")} value={e.classified - e.correct} /></Col>
          <Col xs={12} md={6}><Statistic title={t("tracker.ops.messageCount")} value={e.message_count} /></Col>
        </Row>
        <Typography.Title level={5} style={{ margin: 0 }}>{t("tracker.ops.confusionMatrix")}</Typography.Title>
        <ConfusionMatrix matrix={e.confusion_matrix ?? {}} />
      </Space>
    </Card>
  );
}

export function Experiments({ user }: { user: User }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { track } = useJobsLive();
  const [params, setParams] = useSearchParams();
  const selected = Number(params.get("experiment")) || null;
  const select = (id: number) =>
    setParams((now) => {
      const next = new URLSearchParams(now);
      next.set("experiment", String(id));
      return next;
    });
  const experiments = useQuery({
    queryKey: ["tracker-experiments"],
    queryFn: listExperiments,
    refetchInterval: (query) => (query.state.data?.some((e) => !recordClosed(e.status)) ? POLL_MS : false),
  });
  return (
    <Space direction="vertical" size="large" style={{ width: "100%" }}>
      {may.runTracker(user.role) ? (
        <StartExperiment onStarted={(id, jobId) => {
          track(jobId).catch(() => {});
          queryClient.invalidateQueries({ queryKey: ["tracker-experiments"] });
          select(id);
        }} />
      ) : (
        <Alert type="info" showIcon message={t("tracker.ops.staffOnly")} />
      )}
      <Card size="small" title={t("tracker.ops.experiments")} extra={<Button size="small" onClick={() => experiments.refetch()}>{t("app.refresh")}</Button>}>
        {experiments.error && <Typography.Text type="danger">{errorText(experiments.error)}</Typography.Text>}
        <Table<Experiment>
          data-testid="experiments-table"
          rowKey="id"
          size="small"
          loading={experiments.isLoading}
          dataSource={experiments.data ?? []}
          pagination={{ pageSize: 10, hideOnSinglePage: true }}
          locale={{ emptyText: <Empty description={t("tracker.ops.noExperiments")} /> }}
          rowClassName={(e) => (e.id === selected ? "ant-table-row-selected" : "")}
          onRow={(e) => ({ "data-experiment-id": e.id, onClick: () => select(e.id), style: { cursor: "pointer" } }) as React.HTMLAttributes<HTMLElement>}
          columns={[
            { title: "#", dataIndex: "id", width: 60 },
            { title: t("jobs.status"), render: (_, e) => <LiveStatus jobId={e.job_id} status={e.status} /> },
            { title: t("tracker.ops.chat"), render: (_, e) => e.telegram_chat_id ?? t("tracker.ops.everyChat") },
            { title: t("tracker.ops.messageCount"), dataIndex: "message_count" },
            { title: t("tracker.ops.classified"), dataIndex: "classified" },
            { title: t("tracker.ops.accuracy"), render: (_, e) => (e.accuracy === null ? "—" : `${(e.accuracy * 100).toFixed(1)}%`) },
            { title: t("jobs.started"), render: (_, e) => formatTime(e.created_at, language) },
          ]}
        />
      </Card>
      {selected && <ExperimentDetail key={selected} id={selected} user={user} />}
    </Space>
  );
}
