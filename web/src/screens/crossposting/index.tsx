// Crossposting (Telegram → MAX): links and their migrations (the tab people live in), and the channels at both ends.
// Tab and chosen link are in the URL (?tab=, ?link=), so a reload or a shared link opens the same view.
import { newestFirst } from "@/lists";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Button, Empty, Form, Modal, Popconfirm, Select, Space, Switch, Table, Tabs, Tag, Typography } from "antd";
import { useCallback, useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { User } from "@/api/session";
import { JobStatusTag } from "@/components/JobStatusTag";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useSnapshot } from "@/jobsLive";
import { may } from "@/roles";
import { createLink, deleteLink, listLinks, updateLink, type Link } from "./api";
import { MaxChannels, TelegramChannels, useMaxChannels, useTelegramChannels } from "./Channels";
import { MessageLog } from "./MessageLog";
import { Migration } from "./Migration";

function LinkStatus({ linkId }: { linkId: number }) {
  const { t } = useI18n();
  const snap = useSnapshot(`migration-link-${linkId}`);
  if (!snap) return <Typography.Text type="secondary">—</Typography.Text>;
  return (
    <Space size={4}>
      <JobStatusTag status={snap.status} retrying={snap.retrying} />
      <Typography.Text type="secondary" style={{ fontSize: 12 }}>
        {t("xpost.links.progress", { processed: snap.processed, total: snap.total })}
      </Typography.Text>
    </Space>
  );
}

function AddLink({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const telegram = useTelegramChannels();
  const max = useMaxChannels();
  const [form] = Form.useForm<{ telegram_channel_id: number; max_channel_id: number }>();
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const save = async (values: { telegram_channel_id: number; max_channel_id: number }) => {
    setSaving(true);
    try {
      await createLink(values);
      queryClient.invalidateQueries({ queryKey: ["xpost", "links"] });
      onClose();
    } catch (caught) {
      setError(caught);
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal open title={t("xpost.links.add")} onCancel={onClose} okText={t("app.save")} cancelText={t("app.cancel")}
      confirmLoading={saving} onOk={() => form.submit()} destroyOnHidden>
      <Form form={form} layout="vertical" onFinish={save} data-testid="xpost-link-form">
        <Form.Item name="telegram_channel_id" label={t("xpost.links.from")} rules={[{ required: true, message: t("xpost.required") }]}>
          <Select showSearch={{ optionFilterProp: "title" }} notFoundContent={t("xpost.telegram.empty")}
            options={(telegram.data ?? []).map((c) => ({ value: c.id, title: c.title, label: `${c.title} · ${c.source === "export" ? t("xpost.source.export") : c.chat}` }))} />
        </Form.Item>
        <Form.Item name="max_channel_id" label={t("xpost.links.to")} rules={[{ required: true, message: t("xpost.required") }]}>
          <Select showSearch={{ optionFilterProp: "title" }} notFoundContent={t("xpost.max.empty")}
            options={(max.data ?? []).map((c) => ({ value: c.id, title: c.title, label: `${c.title} · ${c.chat_id}` }))} />
        </Form.Item>
        {error !== null && <Typography.Text type="danger" className="pre-line">{errorText(error)}</Typography.Text>}
      </Form>
    </Modal>
  );
}

function Links({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const links = useQuery({ queryKey: ["xpost", "links"], queryFn: listLinks });
  const telegram = useTelegramChannels();
  const max = useMaxChannels();
  const [adding, setAdding] = useState(false);
  const staff = may.editCrossposting(user.role);
  const chosen = Number(params.get("link")) || null;
  const link = links.data?.find((item) => item.id === chosen) ?? null;
  const telegramOf = (l: Link) => telegram.data?.find((c) => c.id === l.telegram_channel_id);
  const maxOf = (l: Link) => max.data?.find((c) => c.id === l.max_channel_id);
  const choose = (id: number | null) => {
    const next = new URLSearchParams(params);
    if (id) next.set("link", String(id));
    else next.delete("link");
    setParams(next);
  };
  const onJobEnded = useCallback(() => queryClient.invalidateQueries({ queryKey: ["xpost", "log"] }), [queryClient]);
  const act = (run: Promise<unknown>) => run.then(
    () => queryClient.invalidateQueries({ queryKey: ["xpost", "links"] }),
    (error) => message.error(errorText(error)),
  );

  return (
    <Space direction="vertical" size="large" style={{ width: "100%" }}>
      <section>
        <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 8 }}>
          <Typography.Text type="secondary">{t("xpost.links.about")}</Typography.Text>
          {staff && <Button type="primary" onClick={() => setAdding(true)}>{t("xpost.links.add")}</Button>}
        </Space>
        {links.error && <Typography.Text type="danger">{errorText(links.error)}</Typography.Text>}
        <Table<Link>
          data-testid="xpost-links" rowKey="id" size="small" loading={links.isLoading}
          dataSource={newestFirst(links.data)} pagination={{ pageSize: 10, hideOnSinglePage: true }}
          locale={{ emptyText: <Empty description={t("xpost.links.empty")} /> }}
          rowClassName={(row) => (row.id === chosen ? "xpost-chosen" : "")}
          onRow={(row) => ({ "data-link-id": row.id }) as React.HTMLAttributes<HTMLElement>}
          columns={[
            { title: "#", dataIndex: "id", width: 56 },
            { title: t("xpost.links.from"), render: (_, row) => {
              const c = telegramOf(row);
              return c ? (
                <Space direction="vertical" size={0}>
                  <span className="wrap-anywhere">{c.title}</span>
                  <Typography.Text type="secondary" className="mono wrap-anywhere">
                    {c.source === "export" ? `${t("xpost.source.export")}: ${c.export_path?.split("/").at(-1)}` : c.chat}
                  </Typography.Text>
                </Space>
              ) : "—";
            } },
            { title: t("xpost.links.to"), render: (_, row) => {
              const c = maxOf(row);
              return c ? (
                <Space direction="vertical" size={0}>
                  <span className="wrap-anywhere">{c.title}</span>
                  <Typography.Text type="secondary" className="mono">{t("xpost.links.chatToken", { chat: c.chat_id, hint: c.bot_token_hint })}</Typography.Text>
                </Space>
              ) : "—";
            } },
            { title: t("xpost.links.active"), width: 90, render: (_, row) => staff
              ? <Switch size="small" checked={row.active} onChange={(active) => act(updateLink(row.id, { active }))} aria-label={t("xpost.links.active")} />
              : <Tag color={row.active ? "green" : "default"}>{t(row.active ? "app.yes" : "app.no")}</Tag> },
            { title: t("xpost.links.migration"), render: (_, row) => <LinkStatus linkId={row.id} /> },
            { title: t("xpost.created"), render: (_, row) => formatTime(row.created_at, language) },
            { title: t("jobs.actions"), render: (_, row) => (
              <Space>
                <Button size="small" type={row.id === chosen ? "primary" : "default"} onClick={() => choose(row.id === chosen ? null : row.id)}>
                  {t(row.id === chosen ? "app.close" : "xpost.links.open")}
                </Button>
                {staff && (
                  <Popconfirm title={t("xpost.links.deleteConfirm")} okText={t("app.yes")} cancelText={t("app.no")}
                    onConfirm={() => { if (row.id === chosen) choose(null); act(deleteLink(row.id)); }}>
                    <Button size="small" danger>{t("app.delete")}</Button>
                  </Popconfirm>
                )}
              </Space>
            ) },
          ]}
        />
      </section>
      {link ? (
        <Space direction="vertical" size="large" style={{ width: "100%" }} key={link.id}>
          <Typography.Title level={4} style={{ margin: 0 }} className="wrap-anywhere" data-testid="xpost-link-title">
            {t("xpost.links.heading", { from: telegramOf(link)?.title ?? "—", to: maxOf(link)?.title ?? "—" })}
          </Typography.Title>
          <Migration linkId={link.id} user={user} onJobEnded={onJobEnded} />
          <MessageLog linkId={link.id} user={user} />
        </Space>
      ) : (links.data?.length ?? 0) > 0 ? (
        <Typography.Text type="secondary">{t("xpost.links.choose")}</Typography.Text>
      ) : null}
      {adding && <AddLink onClose={() => setAdding(false)} />}
    </Space>
  );
}

const TABS = [
  { key: "links", label: "xpost.tab.links", Component: Links },
  { key: "telegram", label: "xpost.tab.telegram", Component: TelegramChannels },
  { key: "max", label: "xpost.tab.max", Component: MaxChannels },
] as const;

export function Crossposting({ user }: { user: User }) {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const active = TABS.find((tab) => tab.key === params.get("tab"))?.key ?? "links";
  return (
    <Tabs
      activeKey={active}
      onChange={(key) => setParams({ tab: key })}
      destroyOnHidden
      items={TABS.map((tab) => ({ key: tab.key, label: t(tab.label), children: <tab.Component user={user} /> }))}
    />
  );
}
