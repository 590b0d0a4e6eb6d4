// The sources: each with its feed, topic and how the last discovery fared with it; chosen ones (or all active
// ones) are read by a new discovery. Staff add, edit and delete them.
import { newestFirst } from "@/lists";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, App as AntApp, Button, Empty, Form, Input, InputNumber, Modal, Popconfirm, Space, Switch, Table, Tag, Tooltip, Typography } from "antd";
import { useState } from "react";
import { createSource, deleteSource, discover, listSources, updateSource, type Source, type SourceIn, type SourceLastRun } from "@/api/news";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive } from "@/jobsLive";
import { may } from "@/roles";
import { OutsideLink } from "@/safe";
import { LIVE_MS } from "./live";

function LastRun({ run, onShow }: { run: SourceLastRun | null; onShow: () => void }) {
  const { t, language } = useI18n();
  if (!run) return <Typography.Text type="secondary">{t("news.neverRun")}</Typography.Text>;
  return (
    <Space direction="vertical" size={0} data-testid="last-run" data-failed={run.error ? "true" : "false"}>
      {run.error ? (
        <>
          <span><Tag color="error">{t("news.runFailed")}</Tag><Typography.Text type="secondary">{formatTime(run.finished_at, language)}</Typography.Text></span>
          <Typography.Text type="danger" className="wrap-anywhere">{run.error}</Typography.Text>
        </>
      ) : (
        <>
          <span><Tag color="success">{t("news.runOk")}</Tag><Typography.Text type="secondary">{formatTime(run.finished_at, language)}</Typography.Text></span>
          <span>
            {t("news.runCounts", { entries: run.entries ?? 0, drafts: run.drafts ?? 0 })}{" "}
            {(run.drafts ?? 0) > 0 && <Button type="link" size="small" style={{ padding: 0 }} onClick={onShow}>{t("news.showDrafts")}</Button>}
          </span>
        </>
      )}
    </Space>
  );
}

function SourceForm({ source, onDone }: { source: Source | "new"; onDone: () => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { message } = AntApp.useApp();
  const [form] = Form.useForm<SourceIn>();
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const initial: SourceIn = source === "new" ? { name: "", feed_url: "", topic: "", active: true } : source;
  const save = async () => {
    const values = await form.validateFields();
    setSaving(true);
    setError(null);
    try {
      if (source === "new") await createSource(values);
      else await updateSource(source.id, values);
      message.success(t(source === "new" ? "news.sourceAdded" : "news.sourceSaved", { name: values.name }));
      queryClient.invalidateQueries({ queryKey: ["news"] });
      onDone();
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal open title={t(source === "new" ? "news.addSource" : "news.editSource")} onOk={save} onCancel={onDone}
      okText={t("app.save")} cancelText={t("app.cancel")} confirmLoading={saving} destroyOnHidden>
      <Form form={form} layout="vertical" initialValues={initial} data-testid="source-form">
        <Form.Item name="name" label={t("news.name")} rules={[{ required: true, message: t("news.nameRequired") }, { max: 200 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="feed_url" label={t("news.feedUrl")} extra={t("news.feedUrlHelp")}
          rules={[{ required: true, message: t("news.feedUrlRequired") }, { type: "url", message: t("news.feedUrlInvalid") }]}>
          <Input placeholder="https://example.com/feed.rss" />
        </Form.Item>
        <Form.Item name="topic" label={t("news.topic")} extra={t("news.topicHelp")} rules={[{ max: 500 }]}>
          <Input.TextArea rows={3} />
        </Form.Item>
        <Form.Item name="active" label={t("news.active")} valuePropName="checked" extra={t("news.activeHelp")}>
          <Switch />
        </Form.Item>
      </Form>
      {error && <Alert type="error" showIcon message={<span className="pre-line">{error}</span>} data-testid="source-form-error" />}
    </Modal>
  );
}

export function Sources({ user, live, onStarted, onShowRun }: {
  user: User;
  live: boolean;
  onStarted: (jobId: string) => void;
  onShowRun: (runId: string, sourceId: number) => void;
}) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { message } = AntApp.useApp();
  const { watch } = useJobsLive();
  const editor = may.editSources(user.role);
  const sources = useQuery({ queryKey: ["news", "sources"], queryFn: listSources, refetchInterval: live ? LIVE_MS : false });
  const [chosen, setChosen] = useState<number[]>([]);
  const [parallel, setParallel] = useState(3);
  const [starting, setStarting] = useState(false);
  const [editing, setEditing] = useState<Source | "new" | null>(null);

  const [find, setFind] = useState("");
  // Newest first, so a source just added is on the first page; the search narrows a long list by name or feed.
  const every = newestFirst(sources.data);
  const needle = find.trim().toLowerCase();
  const all = needle ? every.filter((s) => `${s.name} ${s.feed_url} ${s.topic}`.toLowerCase().includes(needle)) : every;
  const picked = chosen.filter((id) => every.some((s) => s.id === id));
  const active = every.filter((s) => s.active).length;

  const start = async () => {
    setStarting(true);
    try {
      const started = await discover(picked.length ? picked : null, parallel);
      watch(started.job_id);
      message.success(t(started.joined ? "news.discoveryJoined" : "news.discoveryStarted"));
      onStarted(started.job_id);
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setStarting(false);
    }
  };

  const remove = (source: Source) =>
    deleteSource(source.id).then(
      () => {
        message.success(t("news.sourceDeleted", { name: source.name }));
        setChosen((now) => now.filter((id) => id !== source.id));
        queryClient.invalidateQueries({ queryKey: ["news"] });
      },
      (error) => message.error(errorText(error)),
    );

  const notAllowed = t("app.notAllowed", { role: user.role });
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Space wrap>
          <Button type="primary" data-testid="discover" loading={starting} disabled={!picked.length && !active} onClick={start}>
            {picked.length ? t("news.discoverChosen", { count: picked.length }) : t("news.discoverActive", { count: active })}
          </Button>
          <Space size={4}>
            <Typography.Text type="secondary">{t("news.parallel")}</Typography.Text>
            <InputNumber min={1} max={20} value={parallel} onChange={(value) => setParallel(value ?? 3)} style={{ width: 64 }}
              aria-label={t("news.parallel")} />
          </Space>
          <Typography.Text type="secondary">{t("news.chooseHint")}</Typography.Text>
        </Space>
        <Space>
          <Input.Search allowClear placeholder={t("news.findSource")} value={find} onChange={(event) => setFind(event.target.value)}
            style={{ width: 240 }} aria-label={t("news.findSource")} />
          <Button onClick={() => sources.refetch()}>{t("app.refresh")}</Button>
          <Tooltip title={editor ? undefined : notAllowed}>
            <Button data-testid="add-source" disabled={!editor} onClick={() => setEditing("new")}>{t("news.addSource")}</Button>
          </Tooltip>
        </Space>
      </Space>
      {sources.error && <Alert type="error" showIcon message={errorText(sources.error)} />}
      <Table<Source>
        data-testid="sources-table"
        rowKey="id"
        size="small"
        loading={sources.isLoading}
        dataSource={all}
        pagination={{ pageSize: 50, hideOnSinglePage: true }}
        rowSelection={{ selectedRowKeys: picked, onChange: (keys) => setChosen(keys as number[]) }}
        locale={{ emptyText: <Empty description={editor ? t("news.noSourcesEditor") : t("news.noSources")} /> }}
        onRow={(source) => ({ "data-source-id": source.id }) as React.HTMLAttributes<HTMLElement>}
        columns={[
          { title: t("news.name"), width: "24%", render: (_, source) => (
            <Space direction="vertical" size={0}>
              <Typography.Text strong className="wrap-anywhere" data-testid="source-name">{source.name}</Typography.Text>
              {source.topic && <Typography.Text type="secondary" className="wrap-anywhere">{t("news.topicIs", { topic: source.topic })}</Typography.Text>}
            </Space>
          ) },
          { title: t("news.feedUrl"), width: "30%", render: (_, source) => (
            <span className="wrap-anywhere"><OutsideLink url={source.feed_url} /></span>
          ) },
          { title: t("news.active"), width: 90, render: (_, source) => (
            source.active ? <Tag color="blue">{t("news.activeYes")}</Tag> : <Tag>{t("news.activeNo")}</Tag>
          ) },
          { title: t("news.lastRun"), render: (_, source) => (
            <LastRun run={source.last_run} onShow={() => source.last_run && onShowRun(source.last_run.job_id, source.id)} />
          ) },
          ...(editor ? [{ title: t("jobs.actions"), width: 150, render: (_: unknown, source: Source) => (
            <Space>
              <Button size="small" onClick={() => setEditing(source)}>{t("app.edit")}</Button>
              <Popconfirm title={t("news.deleteConfirm", { name: source.name })} okText={t("app.delete")} okButtonProps={{ danger: true }}
                cancelText={t("app.cancel")} onConfirm={() => remove(source)}>
                <Button size="small" danger>{t("app.delete")}</Button>
              </Popconfirm>
            </Space>
          ) }] : []),
        ]}
      />
      {editing && <SourceForm key={editing === "new" ? "new" : editing.id} source={editing} onDone={() => setEditing(null)} />}
    </Space>
  );
}
