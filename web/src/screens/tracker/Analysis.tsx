// The tracker's analysis tab: start an analysis run over a window of messages (RAG, batch size, agent), watch it
// live, and review its task proposals with their confidence and the messages they came from. Also a chat's
// knowledge extraction started by hand. Staff (admins and managers) start and review; proposals and messages are
// outside text (the LLM's, Telegram's): shown as text, never markup.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import {
  Alert, App as AntApp, Button, Card, Col, DatePicker, Descriptions, Empty, Form, Input, InputNumber, Popconfirm, Row,
  Segmented, Space, Switch, Table, Tag, Tooltip, Typography,
} from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { JobStarted } from "@/api/jobs";
import type { User } from "@/api/session";
import { JobPanel } from "@/components/JobPanel";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive } from "@/jobsLive";
import { may } from "@/roles";
import {
  cancelRun, getRun, listProposals, listRuns, PROPOSAL_STATUSES, PROPOSALS_PAGE, recordClosed, reviewProposal,
  startExtraction, startRun, type Proposal, type ProposalStatus, type Run,
} from "./analysisApi";
import { AgentSelect, LiveStatus, SourceMessages, useLiveStatus, useOnJobEnd } from "./analysisParts";

const POLL_MS = 2000;
const DATE_TIME = "YYYY-MM-DD HH:mm";
const PROPOSAL_COLORS: Record<ProposalStatus, string> = { pending: "default", approved: "success", rejected: "error" };

/** Enter in a date field confirms the date; it must not also submit the form and start a job with half a window. */
function keepEnterInPicker(event: React.KeyboardEvent) {
  if (event.key === "Enter") event.preventDefault();
}

interface RunForm {
  window: [Dayjs, Dayjs];
  use_rag: boolean;
  batch_size: number;
  agent_config_id: number | null;
}

function StartRun({ onStarted }: { onStarted: (runId: number, jobId: string) => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const [form] = Form.useForm<RunForm>();
  const [busy, setBusy] = useState(false);
  const submit = async (values: RunForm) => {
    setBusy(true);
    try {
      const started = await startRun({
        time_window_start: values.window[0].toISOString(),
        time_window_end: values.window[1].toISOString(),
        use_rag: values.use_rag,
        batch_size: values.batch_size,
        agent_config_id: values.agent_config_id ?? null,
      });
      message.success(t("tracker.ops.runStarted", { id: started.id }));
      onStarted(started.id, started.job_id);
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card size="small" title={t("tracker.ops.startRun")} data-testid="start-run">
      <Form<RunForm>
        form={form}
        layout="vertical"
        onFinish={submit}
        initialValues={{ window: [dayjs().subtract(7, "day").startOf("hour"), dayjs().add(1, "hour").startOf("hour")], use_rag: false, batch_size: 50, agent_config_id: null }}
      >
        <Form.Item name="window" label={t("tracker.ops.window")} rules={[{ required: true, message: t("tracker.ops.windowRequired") }]}>
          <DatePicker.RangePicker showTime={{ format: "HH:mm" }} format={DATE_TIME} style={{ width: "100%" }}
            id={{ start: "run-window-start", end: "run-window-end" }} onKeyDown={keepEnterInPicker} />
        </Form.Item>
        <Space size="large" wrap align="start">
          <Form.Item name="batch_size" label={t("tracker.ops.batchSize")} tooltip={t("tracker.ops.batchSizeHelp")} rules={[{ required: true }]}>
            <InputNumber min={1} max={500} />
          </Form.Item>
          <Form.Item name="use_rag" label={t("tracker.ops.useRag")} tooltip={t("tracker.ops.useRagHelp")} valuePropName="checked">
            <Switch />
          </Form.Item>
          <Form.Item name="agent_config_id" label={t("tracker.ops.agent")}>
            <AgentSelect role="proposal_generator" />
          </Form.Item>
        </Space>
        <Button type="primary" htmlType="submit" loading={busy}>{t("tracker.ops.startRunSubmit")}</Button>
      </Form>
    </Card>
  );
}

interface ExtractionForm {
  telegram_chat_id: string;
  period?: [Dayjs | null, Dayjs | null] | null;
}

function StartExtraction() {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const { track } = useJobsLive();
  const [busy, setBusy] = useState(false);
  const [started, setStarted] = useState<JobStarted | null>(null);
  const submit = async (values: ExtractionForm) => {
    setBusy(true);
    try {
      const [since, until] = values.period ?? [null, null];
      const answer = await startExtraction({
        telegram_chat_id: Number(values.telegram_chat_id.trim()),
        since: since?.toISOString(),
        until: until?.toISOString(),
      });
      setStarted(answer);
      track(answer.job_id).catch(() => {});
      if (!answer.joined) message.success(t("tracker.ops.extractionStarted"));
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card size="small" title={t("tracker.ops.extraction")} data-testid="start-extraction">
      <Typography.Paragraph type="secondary">{t("tracker.ops.extractionHelp")}</Typography.Paragraph>
      <Form<ExtractionForm> layout="vertical" onFinish={submit}>
        <Space size="large" wrap align="start">
          <Form.Item name="telegram_chat_id" label={t("tracker.ops.chatId")}
            rules={[{ required: true, pattern: /^\s*-?\d{1,19}\s*$/, message: t("tracker.ops.chatIdInvalid") }]}>
            <Input placeholder="-1001234567890" style={{ width: 200 }} />
          </Form.Item>
          <Form.Item name="period" label={t("tracker.ops.period")}>
            <DatePicker.RangePicker showTime={{ format: "HH:mm" }} format={DATE_TIME} allowEmpty={[true, true]} onKeyDown={keepEnterInPicker} />
          </Form.Item>
        </Space>
        <Button htmlType="submit" loading={busy}>{t("tracker.ops.extractionSubmit")}</Button>
      </Form>
      {started && (
        <Space direction="vertical" style={{ width: "100%", marginTop: 12 }}>
          {started.joined && (
            <Alert type="info" showIcon data-testid="extraction-joined"
              message={t("tracker.ops.extractionJoined", { since: started.running_since ?? "—" })}
              description={started.running_input ? <span className="mono wrap-anywhere">{JSON.stringify(started.running_input)}</span> : undefined} />
          )}
          <JobPanel jobId={started.job_id} title={t("tracker.ops.extractionJob")} canCancel={false} onClose={() => setStarted(null)} />
        </Space>
      )}
    </Card>
  );
}

function RunStatusCell({ run }: { run: Run }) {
  return <LiveStatus jobId={run.job_id} status={run.status} />;
}

function confidenceColor(value: number) {
  return value >= 0.8 ? "green" : value >= 0.5 ? "gold" : "default";
}

function Proposals({ run, user, open }: { run: Run; user: User; open: boolean }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<ProposalStatus | "all">("all");
  const [saving, setSaving] = useState<number | null>(null);
  const key = ["tracker-proposals", run.id, status];
  const proposals = useQuery({
    queryKey: key,
    queryFn: () => listProposals(run.id, status === "all" ? undefined : status),
    refetchInterval: open ? POLL_MS : false,
  });
  useOnJobEnd(run.job_id, () => queryClient.invalidateQueries({ queryKey: ["tracker-proposals", run.id] }));
  const canReview = may.runTracker(user.role);
  const review = async (proposal: Proposal, next: ProposalStatus) => {
    setSaving(proposal.id);
    try {
      await reviewProposal(proposal.id, next);
      await queryClient.invalidateQueries({ queryKey: ["tracker-proposals", run.id] });
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setSaving(null);
    }
  };
  const rows = proposals.data ?? [];
  return (
    <section data-testid="proposals">
      <Space style={{ width: "100%", justifyContent: "space-between", margin: "12px 0" }} wrap>
        <Typography.Title level={5} style={{ margin: 0 }}>{t("tracker.ops.proposals")}</Typography.Title>
        <Segmented<ProposalStatus | "all">
          value={status}
          onChange={setStatus}
          options={[{ value: "all", label: t("app.all") }, ...PROPOSAL_STATUSES.map((value) => ({ value, label: t(`tracker.ops.proposal.${value}`) }))]}
        />
      </Space>
      {proposals.error && <Typography.Text type="danger">{errorText(proposals.error)}</Typography.Text>}
      {rows.length === PROPOSALS_PAGE && <Typography.Text type="secondary">{t("tracker.ops.proposalsCapped", { count: PROPOSALS_PAGE })}</Typography.Text>}
      <Table<Proposal>
        rowKey="id"
        size="small"
        loading={proposals.isLoading}
        dataSource={rows}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: <Empty description={open ? t("tracker.ops.proposalsComing") : t("tracker.ops.noProposals")} /> }}
        onRow={(proposal) => ({ "data-proposal-id": proposal.id, "data-status": proposal.status }) as React.HTMLAttributes<HTMLElement>}
        expandable={{
          expandedRowRender: (proposal) => <SourceMessages ids={proposal.source_message_ids} />,
          expandRowByClick: false,
        }}
        columns={[
          { title: t("tracker.ops.proposalTitle"), render: (_, p) => (
            <Space direction="vertical" size={0}>
              <Typography.Text strong className="wrap-anywhere" data-testid="proposal-title">{p.title}</Typography.Text>
              <Typography.Paragraph type="secondary" className="pre-line wrap-anywhere" style={{ margin: 0 }}
                ellipsis={{ rows: 3, expandable: true, symbol: t("tracker.ops.more") }} data-testid="proposal-description">
                {p.description}
              </Typography.Paragraph>
            </Space>
          ) },
          { title: t("tracker.ops.priority"), width: 100, render: (_, p) => (p.priority ? <Tag>{p.priority}</Tag> : "—") },
          { title: t("tracker.ops.confidence"), width: 110, sorter: (a, b) => a.confidence - b.confidence, render: (_, p) => (
            <Tag color={confidenceColor(p.confidence)} data-testid="proposal-confidence">{Math.round(p.confidence * 100)}%</Tag>
          ) },
          { title: t("tracker.ops.sourcesShort"), width: 90, render: (_, p) => p.source_message_ids.length },
          { title: t("jobs.status"), width: 120, render: (_, p) => (
            <Tag color={PROPOSAL_COLORS[p.status]} data-testid="proposal-status">{t(`tracker.ops.proposal.${p.status}`)}</Tag>
          ) },
          { title: t("tracker.ops.proposed"), width: 150, render: (_, p) => formatTime(p.created_at, language) },
          { title: t("jobs.actions"), width: 220, render: (_, p) => {
            if (!canReview) return <Tooltip title={t("app.notAllowed", { role: user.role })}><span>—</span></Tooltip>;
            return (
              <Space size="small">
                {p.status !== "approved" && (
                  <Button size="small" type="primary" loading={saving === p.id} onClick={() => review(p, "approved")}>{t("tracker.ops.approve")}</Button>
                )}
                {p.status !== "rejected" && (
                  <Button size="small" danger loading={saving === p.id} onClick={() => review(p, "rejected")}>{t("tracker.ops.reject")}</Button>
                )}
                {p.status !== "pending" && (
                  <Button size="small" type="link" onClick={() => review(p, "pending")}>{t("tracker.ops.backToPending")}</Button>
                )}
              </Space>
            );
          } },
        ]}
      />
    </section>
  );
}

function RunDetail({ runId, user }: { runId: number; user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  // The row's counters follow the job while it runs, and are read once more when it ends.
  const run = useQuery({
    queryKey: ["tracker-run", runId],
    queryFn: () => getRun(runId),
    refetchInterval: (query) => (query.state.data && !recordClosed(query.state.data.status) ? POLL_MS : false),
  });
  const status = useLiveStatus(run.data?.job_id ?? null, run.data?.status ?? "pending");
  const open = !!run.data && !recordClosed(status);
  useOnJobEnd(run.data?.job_id, () => {
    queryClient.invalidateQueries({ queryKey: ["tracker-run", runId], exact: true });
    queryClient.invalidateQueries({ queryKey: ["tracker-runs"] });
  });
  if (run.error) return <Alert type="error" message={errorText(run.error)} />;
  if (!run.data) return <Typography.Text type="secondary">{t("app.loading")}</Typography.Text>;
  const r = run.data;
  const cancel = () => cancelRun(r.id).then(() => message.info(t("jobs.cancelled")), (error) => message.error(errorText(error)));
  return (
    <Card size="small" data-testid="run-detail" data-run-id={r.id} title={t("tracker.ops.runTitle", { id: r.id })}>
      <Space direction="vertical" style={{ width: "100%" }}>
        {r.job_id && (
          <JobPanel jobId={r.job_id} title={t("tracker.ops.runJob")} canCancel={false}
            extra={open && may.runTracker(user.role) && (
              <Popconfirm title={t("tracker.ops.cancelRunConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={cancel}>
                <Button danger size="small">{t("tracker.ops.cancelRun")}</Button>
              </Popconfirm>
            )} />
        )}
        <Descriptions size="small" column={{ xs: 1, md: 3 }} bordered>
          <Descriptions.Item label={t("tracker.ops.window")}>{formatTime(r.time_window_start, language)} — {formatTime(r.time_window_end, language)}</Descriptions.Item>
          <Descriptions.Item label={t("tracker.ops.useRag")}>{r.use_rag ? t("app.yes") : t("app.no")}</Descriptions.Item>
          <Descriptions.Item label={t("tracker.ops.batchSize")}>{r.batch_size}</Descriptions.Item>
          <Descriptions.Item label={t("tracker.ops.messages")}>
            <span data-testid="run-messages">{t("tracker.ops.messagesKept", { total: r.messages_total, kept: r.messages_after_filter })}</span>
          </Descriptions.Item>
          <Descriptions.Item label={t("tracker.ops.batches")}>{r.batches_completed} / {r.batches_total}</Descriptions.Item>
          <Descriptions.Item label={t("tracker.ops.proposals")}><span data-testid="run-proposals-total">{r.proposals_total}</span></Descriptions.Item>
        </Descriptions>
        {r.error_log && r.error_log.length > 0 && (
          <Alert type="warning" showIcon message={t("tracker.ops.runErrors", { count: r.error_log.length })}
            description={
              <ul data-testid="run-errors" style={{ margin: 0, paddingLeft: 18 }}>
                {r.error_log.slice(0, 20).map((entry, n) => (
                  <li key={n} className="wrap-anywhere">
                    {entry.batch === null || entry.batch === undefined ? t("tracker.ops.theRun") : t("tracker.ops.batchN", { n: entry.batch + 1 })}: {entry.error}
                  </li>
                ))}
              </ul>
            } />
        )}
        <Proposals run={r} user={user} open={open} />
      </Space>
    </Card>
  );
}

export function Analysis({ user }: { user: User }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { track } = useJobsLive();
  const [params, setParams] = useSearchParams();
  const selected = Number(params.get("run")) || null;
  const select = (runId: number | null) =>
    setParams((now) => {
      const next = new URLSearchParams(now);
      if (runId) next.set("run", String(runId));
      else next.delete("run");
      return next;
    });
  const runs = useQuery({
    queryKey: ["tracker-runs"],
    queryFn: listRuns,
    refetchInterval: (query) => (query.state.data?.some((run) => !recordClosed(run.status)) ? POLL_MS : false),
  });
  const canRun = may.runTracker(user.role);
  return (
    <Space direction="vertical" size="large" style={{ width: "100%" }}>
      {canRun ? (
        <Row gutter={[16, 16]}>
          <Col xs={24} xl={14}>
            <StartRun onStarted={(runId, jobId) => {
              track(jobId).catch(() => {});
              queryClient.invalidateQueries({ queryKey: ["tracker-runs"] });
              select(runId);
            }} />
          </Col>
          <Col xs={24} xl={10}><StartExtraction /></Col>
        </Row>
      ) : (
        <Alert type="info" showIcon message={t("tracker.ops.staffOnly")} />
      )}
      <Card size="small" title={t("tracker.ops.runs")} extra={<Button size="small" onClick={() => runs.refetch()}>{t("app.refresh")}</Button>}>
        {runs.error && <Typography.Text type="danger">{errorText(runs.error)}</Typography.Text>}
        <Table<Run>
          data-testid="runs-table"
          rowKey="id"
          size="small"
          loading={runs.isLoading}
          dataSource={runs.data ?? []}
          pagination={{ pageSize: 10, hideOnSinglePage: true }}
          locale={{ emptyText: <Empty description={t("tracker.ops.noRuns")} /> }}
          rowClassName={(run) => (run.id === selected ? "ant-table-row-selected" : "")}
          onRow={(run) => ({ "data-run-id": run.id, onClick: () => select(run.id), style: { cursor: "pointer" } }) as React.HTMLAttributes<HTMLElement>}
          columns={[
            { title: "#", dataIndex: "id", width: 60 },
            { title: t("jobs.status"), render: (_, run) => <RunStatusCell run={run} /> },
            { title: t("tracker.ops.window"), render: (_, run) => `${formatTime(run.time_window_start, language)} — ${formatTime(run.time_window_end, language)}` },
            { title: t("tracker.ops.useRag"), render: (_, run) => (run.use_rag ? <Tag color="blue">RAG</Tag> : "—") },
            { title: t("tracker.ops.batchSize"), dataIndex: "batch_size" },
            { title: t("tracker.ops.messages"), render: (_, run) => `${run.messages_after_filter} / ${run.messages_total}` },
            { title: t("tracker.ops.batches"), render: (_, run) => `${run.batches_completed} / ${run.batches_total}` },
            { title: t("tracker.ops.proposals"), dataIndex: "proposals_total" },
            { title: t("jobs.started"), render: (_, run) => formatTime(run.created_at, language) },
          ]}
        />
      </Card>
      {selected && <RunDetail key={selected} runId={selected} user={user} />}
    </Space>
  );
}
