// WebBuddy: a person's projects, a question asked in one, their queries by status (newest first, live while any is
// open) and the one opened beside them with its answer and log. Admins see everyone's projects and queries, as the
// API shows them; everyone else sees, and may ask in, only their own projects.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Button, Card, Col, Empty, Form, Input, Modal, Row, Segmented, Select, Space, Table, Typography } from "antd";
import { useMemo, useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { User } from "@/api/session";
import {
  askQuery,
  createProject,
  isOpenQuery,
  listProjects,
  listQueries,
  QUERY_STATUSES,
  queryJobId,
  type Project,
  type QueryStatus,
  type WebBuddyQuery,
} from "@/api/webbuddy";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive } from "@/jobsLive";
import { may } from "@/roles";
import { IDLE_POLL_MS, OPEN_POLL_MS, useRereadOnProgress } from "./live";
import { QueryDetail } from "./QueryDetail";
import { QueryStatusTag } from "./QueryStatusTag";

const PAGE = 20;
const PROJECTS_KEY = ["webbuddy-projects"];

function numberParam(value: string | null): number | undefined {
  const n = Number(value);
  return value && Number.isInteger(n) && n > 0 ? n : undefined;
}

function NewProject({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (p: Project) => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [form] = Form.useForm<{ name: string }>();
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async ({ name }: { name: string }) => {
    setSaving(true);
    setError(null);
    try {
      onCreated(await createProject(name.trim()));
      form.resetFields();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal open={open} title={t("webbuddy.newProject")} onCancel={onClose} okText={t("webbuddy.create")} cancelText={t("app.cancel")}
      confirmLoading={saving} onOk={() => form.submit()} destroyOnHidden>
      <Form form={form} layout="vertical" onFinish={submit}>
        <Form.Item name="name" label={t("webbuddy.projectName")}
          rules={[{ required: true, whitespace: true, message: t("webbuddy.projectNameRequired") }, { max: 200 }]}>
          <Input autoFocus maxLength={200} placeholder={t("webbuddy.projectNameHint")} />
        </Form.Item>
        {error && <Typography.Text type="danger">{error}</Typography.Text>}
      </Form>
    </Modal>
  );
}

function AskForm({ projects, project, onAsked, onNewProject }: {
  projects: Project[];
  project: number | undefined;
  onAsked: (query: WebBuddyQuery) => void;
  onNewProject: () => void;
}) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const { message } = AntApp.useApp();
  const [chosen, setChosen] = useState<number | undefined>();
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  const target = project ?? chosen ?? projects.at(-1)?.id;
  const ask = async () => {
    if (!target || !text.trim()) return;
    setSending(true);
    try {
      const query = await askQuery(target, text.trim());
      setText("");
      message.success(t("webbuddy.asked.notice", { id: query.id }));
      onAsked(query);
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setSending(false);
    }
  };
  if (projects.length === 0) {
    return (
      <Empty description={t("webbuddy.noProjects")}>
        <Button type="primary" onClick={onNewProject}>{t("webbuddy.newProject")}</Button>
      </Empty>
    );
  }
  return (
    <Space orientation="vertical" style={{ width: "100%" }} data-testid="webbuddy-ask">
      <Input.TextArea
        aria-label={t("webbuddy.question")}
        placeholder={t("webbuddy.questionHint")}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) ask();
        }}
        // No autoSize: it measures with a style attribute, which the page's CSP refuses.
        rows={3}
        maxLength={100000}
      />
      <Space wrap>
        {project === undefined && (
          <Select aria-label={t("webbuddy.askIn")} style={{ minWidth: 240 }} value={target} onChange={setChosen}
            options={projects.map((p) => ({ value: p.id, label: p.name }))} />
        )}
        <Button type="primary" onClick={ask} loading={sending} disabled={!text.trim() || !target}>
          {t("webbuddy.ask")}
        </Button>
        <Typography.Text type="secondary">{t("webbuddy.askShortcut")}</Typography.Text>
      </Space>
    </Space>
  );
}

export function WebBuddy({ user }: { user: User }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { track } = useJobsLive();
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState(false);
  const seeAll = may.seeAllWebBuddy(user.role);

  const project = numberParam(params.get("project"));
  const statusParam = params.get("status");
  const status = QUERY_STATUSES.includes(statusParam as QueryStatus) ? (statusParam as QueryStatus) : undefined;
  const opened = numberParam(params.get("query"));
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const change = (next: Record<string, string | number | undefined>) => {
    const merged = new URLSearchParams(params);
    for (const [key, value] of Object.entries(next)) {
      if (value === undefined || value === "") merged.delete(key);
      else merged.set(key, String(value));
    }
    setParams(merged);
  };

  const projects = useQuery({ queryKey: PROJECTS_KEY, queryFn: listProjects });
  const queries = useQuery({
    queryKey: ["webbuddy", "queries", project, status, offset],
    queryFn: () => listQueries({ project, status, limit: PAGE, offset }),
    refetchInterval: (q) => (q.state.data?.some((row) => isOpenQuery(row.status)) ? OPEN_POLL_MS : IDLE_POLL_MS),
  });
  const rows = useMemo(() => queries.data ?? [], [queries.data]);
  useRereadOnProgress(rows.filter((row) => isOpenQuery(row.status)).map((row) => row.id), rows.map((row) => row.id));

  const projectList = useMemo(() => projects.data ?? [], [projects.data]);
  const projectName = (id: number) => {
    const p = projectList.find((item) => item.id === id);
    if (!p) return `#${id}`;
    return p.owner === user.id || !seeAll ? p.name : t("webbuddy.projectOf", { name: p.name, owner: p.owner });
  };
  const projectOptions = [
    { value: 0, label: t("webbuddy.allProjects") },
    ...projectList.map((p) => ({ value: p.id, label: projectName(p.id) })),
  ];

  const asked = (query: WebBuddyQuery) => {
    track(queryJobId(query.id)).catch(() => {});
    queryClient.invalidateQueries({ queryKey: ["webbuddy", "queries"] });
    change({ query: query.id, offset: undefined, status: undefined });
  };

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%" }} data-testid="webbuddy">
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Typography.Title level={4} style={{ margin: 0 }}>{t("webbuddy.title")}</Typography.Title>
        <Space wrap>
          <Select aria-label={t("webbuddy.project")} style={{ minWidth: 260 }} loading={projects.isLoading}
            value={project ?? 0} options={projectOptions} data-testid="webbuddy-project"
            onChange={(value) => change({ project: value || undefined, offset: undefined, query: undefined })} />
          <Button onClick={() => setCreating(true)}>{t("webbuddy.newProject")}</Button>
        </Space>
      </Space>
      {projects.error && <Typography.Text type="danger">{errorText(projects.error)}</Typography.Text>}
      <NewProject open={creating} onClose={() => setCreating(false)} onCreated={(p) => {
        setCreating(false);
        queryClient.invalidateQueries({ queryKey: PROJECTS_KEY });
        change({ project: p.id, offset: undefined, query: undefined });
      }} />

      <Card size="small" title={t("webbuddy.askTitle")}>
        {projects.isLoading ? <Typography.Text type="secondary">{t("app.loading")}</Typography.Text> : (
          <AskForm projects={seeAll ? projectList.filter((p) => p.owner === user.id || p.id === project) : projectList}
            project={project} onAsked={asked} onNewProject={() => setCreating(true)} />
        )}
      </Card>

      <Row gutter={[16, 16]}>
        <Col xs={24} xl={opened ? 13 : 24}>
          <Card size="small" title={t("webbuddy.queries")}
            extra={
              <Segmented<string> size="small" data-testid="webbuddy-status-filter" value={status ?? "all"}
                onChange={(value) => change({ status: value === "all" ? undefined : value, offset: undefined })}
                options={[{ value: "all", label: t("app.all") }, ...QUERY_STATUSES.map((s) => ({ value: s, label: t(`webbuddy.status.${s}`) }))]} />
            }>
            {queries.error && <Typography.Text type="danger">{errorText(queries.error)}</Typography.Text>}
            <Table<WebBuddyQuery>
              data-testid="webbuddy-queries"
              rowKey="id"
              size="small"
              loading={queries.isLoading}
              dataSource={rows}
              pagination={false}
              rowClassName={(row) => (row.id === opened ? "webbuddy-opened" : "")}
              locale={{ emptyText: <Empty description={t(status ? "webbuddy.noQueriesWithStatus" : "webbuddy.noQueries")} /> }}
              onRow={(row) => ({
                "data-query-id": row.id,
                "data-status": row.status,
                onClick: () => change({ query: row.id }),
                style: { cursor: "pointer" },
              }) as React.HTMLAttributes<HTMLElement>}
              columns={[
                { title: "#", dataIndex: "id", width: 64 },
                { title: t("webbuddy.question"), render: (_, row) => (
                  <Typography.Paragraph ellipsis={{ rows: 2 }} style={{ margin: 0 }} className="wrap-anywhere">{row.query_text}</Typography.Paragraph>
                ) },
                ...(project === undefined ? [{ title: t("webbuddy.project"), width: 160, render: (_: unknown, row: WebBuddyQuery) => (
                  <span className="wrap-anywhere">{projectName(row.project)}</span>
                ) }] : []),
                ...(seeAll ? [{ title: t("webbuddy.user"), width: 90, render: (_: unknown, row: WebBuddyQuery) =>
                  row.user === user.id ? t("webbuddy.you") : `#${row.user}` }] : []),
                { title: t("webbuddy.status"), width: 240, render: (_, row) => <QueryStatusTag query={row} /> },
                { title: t("webbuddy.asked"), width: 110, render: (_, row) => formatTime(row.query_created, language) },
              ]}
            />
            <Space style={{ marginTop: 12, width: "100%", justifyContent: "flex-end" }}>
              <Button size="small" disabled={offset === 0} onClick={() => change({ offset: Math.max(0, offset - PAGE) || undefined })}>
                {t("webbuddy.newer")}
              </Button>
              <Button size="small" disabled={rows.length < PAGE} onClick={() => change({ offset: offset + PAGE })}>
                {t("webbuddy.older")}
              </Button>
            </Space>
          </Card>
        </Col>
        {opened && (
          <Col xs={24} xl={11}>
            <QueryDetail key={opened} queryId={opened} projects={projectList} onClose={() => change({ query: undefined })} />
          </Col>
        )}
      </Row>
    </Space>
  );
}
