// The drafts discoveries found: title, summary, source and link, newest first, filtered by source, status, run and
// "new since" (all in the URL, read by the server a page at a time). Staff edit, publish or reject them.
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, App as AntApp, Button, DatePicker, Empty, Form, Input, Modal, Popconfirm, Select, Space, Table, Tag, Typography } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { DRAFT_STATUSES, editDraft, listDrafts, listSources, publishDraft, rejectDraft, type Draft, type DraftStatus } from "@/api/news";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { may } from "@/roles";
import { OutsideLink } from "@/safe";
import { LIVE_MS } from "./live";

const STATUS_COLORS: Record<DraftStatus, string> = { draft: "processing", published: "success", rejected: "default" };
const PAGE_SIZES = [20, 50, 100];

function DraftForm({ draft, onDone }: { draft: Draft; onDone: () => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { message } = AntApp.useApp();
  const [form] = Form.useForm<{ title: string; summary: string }>();
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = async () => {
    const values = await form.validateFields();
    setSaving(true);
    setError(null);
    try {
      await editDraft(draft.id, values);
      message.success(t("news.draftSaved"));
      queryClient.invalidateQueries({ queryKey: ["news", "drafts"] });
      onDone();
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal open width={720} title={t("news.editDraft")} onOk={save} onCancel={onDone} okText={t("app.save")}
      cancelText={t("app.cancel")} confirmLoading={saving} destroyOnHidden>
      <Form form={form} layout="vertical" initialValues={{ title: draft.title, summary: draft.summary }} data-testid="draft-form">
        <Form.Item name="title" label={t("news.draftTitle")} rules={[{ required: true, message: t("news.titleRequired") }, { max: 500 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="summary" label={t("news.summary")}>
          <Input.TextArea rows={8} />
        </Form.Item>
        <Typography.Text type="secondary">
          {draft.source_name} · <span className="wrap-anywhere"><OutsideLink url={draft.url} /></span>
        </Typography.Text>
      </Form>
      {error && <Alert type="error" showIcon style={{ marginTop: 12 }} message={<span className="pre-line">{error}</span>} />}
    </Modal>
  );
}

export function Drafts({ user, live }: { user: User; live: boolean }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const { message } = AntApp.useApp();
  const editor = may.editDrafts(user.role);
  const [params, setParams] = useSearchParams();
  const [editing, setEditing] = useState<Draft | null>(null);

  const sourceId = Number(params.get("source")) || undefined;
  const since = params.get("since") || undefined;
  const status = (DRAFT_STATUSES as string[]).includes(params.get("status") ?? "") ? (params.get("status") as DraftStatus) : undefined;
  const runId = params.get("run") || undefined;
  const pageSize = PAGE_SIZES.includes(Number(params.get("size"))) ? Number(params.get("size")) : PAGE_SIZES[0];
  const page = Math.max(1, Number(params.get("page")) || 1);
  const filter = { source_id: sourceId, since, status, run_id: runId, limit: pageSize, offset: (page - 1) * pageSize };

  const drafts = useQuery({
    queryKey: ["news", "drafts", filter],
    queryFn: () => listDrafts(filter),
    placeholderData: keepPreviousData,
    // While a discovery runs its drafts arrive: read the page again until it ends (and once more then).
    refetchInterval: live ? LIVE_MS : false,
  });
  const sources = useQuery({ queryKey: ["news", "sources"], queryFn: listSources });

  const update = (changes: Record<string, string | null>, keepPage = false) =>
    setParams((now) => {
      const next = new URLSearchParams(now);
      Object.entries(changes).forEach(([key, value]) => (value === null ? next.delete(key) : next.set(key, value)));
      if (!keepPage) next.delete("page");
      return next;
    });

  const decide = (draft: Draft, how: "publish" | "reject") =>
    (how === "publish" ? publishDraft : rejectDraft)(draft.id).then(
      () => {
        message.success(t(how === "publish" ? "news.published" : "news.rejected", { title: draft.title }));
        queryClient.invalidateQueries({ queryKey: ["news", "drafts"] });
      },
      (error) => {
        // A 409: someone decided it first. Say so in the API's words and show what it is now.
        message.error(errorText(error));
        queryClient.invalidateQueries({ queryKey: ["news", "drafts"] });
      },
    );

  const sinceValue: Dayjs | null = since && dayjs(since).isValid() ? dayjs(since) : null;
  const total = drafts.data?.total ?? 0;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Space wrap>
          <Select allowClear showSearch optionFilterProp="label" placeholder={t("news.allSources")} style={{ minWidth: 220 }}
            aria-label={t("news.source")} data-testid="filter-source" value={sourceId}
            onChange={(value?: number) => update({ source: value ? String(value) : null })}
            options={(sources.data ?? []).map((s) => ({ value: s.id, label: s.name }))} />
          <Select allowClear placeholder={t("news.allStatuses")} style={{ minWidth: 160 }} aria-label={t("news.status")}
            data-testid="filter-status" value={status} onChange={(value?: DraftStatus) => update({ status: value ?? null })}
            options={DRAFT_STATUSES.map((name) => ({ value: name, label: t(`news.status.${name}`) }))} />
          <DatePicker showTime={{ format: "HH:mm" }} format="YYYY-MM-DD HH:mm" placeholder={t("news.newSince")}
            aria-label={t("news.newSince")} data-testid="filter-since" value={sinceValue}
            onChange={(value) => update({ since: value ? value.toISOString() : null })}
            presets={[
              { label: t("news.lastHour"), value: () => dayjs().subtract(1, "hour") },
              { label: t("news.lastDay"), value: () => dayjs().subtract(1, "day") },
              { label: t("news.lastWeek"), value: () => dayjs().subtract(7, "day") },
            ]} />
          {runId && (
            <Tag closable onClose={() => update({ run: null })} data-testid="filter-run">
              {t("news.fromRun")} <span className="mono">{runId}</span>
            </Tag>
          )}
        </Space>
        <Space>
          <Typography.Text type="secondary" data-testid="drafts-total">{t("news.draftsTotal", { count: total })}</Typography.Text>
          <Button onClick={() => drafts.refetch()}>{t("app.refresh")}</Button>
        </Space>
      </Space>
      {!editor && <Typography.Text type="secondary">{t("news.readOnly", { role: user.role })}</Typography.Text>}
      {drafts.error && <Alert type="error" showIcon message={errorText(drafts.error)} />}
      <div data-testid="drafts-list">
      <Table<Draft>
        data-testid="drafts-table"
        rowKey="id"
        size="small"
        loading={drafts.isLoading}
        dataSource={drafts.data?.items ?? []}
        locale={{ emptyText: <Empty description={sourceId || since || status || runId ? t("news.noDraftsFiltered") : t("news.noDrafts")} /> }}
        onRow={(draft) => ({ "data-draft-id": draft.id, "data-status": draft.status }) as React.HTMLAttributes<HTMLElement>}
        pagination={{
          current: page,
          pageSize,
          total,
          showSizeChanger: true,
          pageSizeOptions: PAGE_SIZES,
          hideOnSinglePage: total <= PAGE_SIZES[0],
          onChange: (next, size) => update(size !== pageSize ? { size: String(size) } : { page: String(next) }, size === pageSize),
        }}
        columns={[
          { title: t("news.draftTitle"), render: (_, draft) => (
            <Space direction="vertical" size={2} data-testid="draft-text">
              <Typography.Text strong className="wrap-anywhere" data-testid="draft-title">{draft.title}</Typography.Text>
              {draft.summary && (
                <Typography.Paragraph type="secondary" className="wrap-anywhere pre-line" style={{ margin: 0 }}
                  ellipsis={{ rows: 3, expandable: "collapsible", symbol: (open) => t(open ? "news.less" : "news.more") }}
                  data-testid="draft-summary">
                  {draft.summary}
                </Typography.Paragraph>
              )}
              <span className="wrap-anywhere mono" data-testid="draft-link"><OutsideLink url={draft.url} /></span>
            </Space>
          ) },
          { title: t("news.source"), width: 180, render: (_, draft) => <span className="wrap-anywhere">{draft.source_name}</span> },
          { title: t("news.status"), width: 110, render: (_, draft) => (
            <Tag color={STATUS_COLORS[draft.status]} data-testid="draft-status">{t(`news.status.${draft.status}`)}</Tag>
          ) },
          { title: t("news.dates"), width: 215, render: (_, draft) => (
            <Space direction="vertical" size={0}>
              <span>{t("news.foundAt", { time: formatTime(draft.created_at, language) })}</span>
              <Typography.Text type="secondary">{t("news.inFeedAt", { time: formatTime(draft.published_at, language) })}</Typography.Text>
            </Space>
          ) },
          ...(editor ? [{ title: t("jobs.actions"), width: 230, render: (_: unknown, draft: Draft) => (
            <Space wrap>
              <Button size="small" onClick={() => setEditing(draft)}>{t("app.edit")}</Button>
              {draft.status === "draft" && (
                <>
                  <Popconfirm title={t("news.publishConfirm")} okText={t("news.publish")} cancelText={t("app.cancel")}
                    onConfirm={() => decide(draft, "publish")}>
                    <Button size="small" type="primary">{t("news.publish")}</Button>
                  </Popconfirm>
                  <Popconfirm title={t("news.rejectConfirm")} okText={t("news.reject")} okButtonProps={{ danger: true }}
                    cancelText={t("app.cancel")} onConfirm={() => decide(draft, "reject")}>
                    <Button size="small" danger>{t("news.reject")}</Button>
                  </Popconfirm>
                </>
              )}
            </Space>
          ) }] : []),
        ]}
      />
      </div>
      {editing && <DraftForm key={editing.id} draft={editing} onDone={() => setEditing(null)} />}
    </Space>
  );
}
