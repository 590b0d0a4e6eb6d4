// The two ends of a link: Telegram channels (read live through pyrogram, or from a Desktop export picked from the
// exports directory) and MAX channels (a chat and its bot's token, which is write-only: shown by its hint).
import { newestFirst } from "@/lists";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { App as AntApp, Button, Descriptions, Empty, Form, Input, InputNumber, Modal, Popconfirm, Radio, Select, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { may } from "@/roles";
import {
  createMaxChannel, createTelegramChannel, deleteMaxChannel, deleteTelegramChannel, listExports, listMaxChannels,
  listTelegramChannels, updateMaxChannel, updateTelegramChannel, type MaxChannel, type TelegramChannel, type TelegramExport,
} from "./api";

export const useTelegramChannels = () => useQuery({ queryKey: ["xpost", "telegram"], queryFn: listTelegramChannels });
export const useMaxChannels = () => useQuery({ queryKey: ["xpost", "max"], queryFn: listMaxChannels });

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function ExportSummaryView({ picked }: { picked: TelegramExport }) {
  const { t, language } = useI18n();
  const summary = picked.summary;
  if (!summary) return null;
  return (
    <Descriptions size="small" column={2} bordered data-testid="xpost-export-summary">
      <Descriptions.Item label={t("xpost.export.channel")} span={2}><span className="wrap-anywhere">{summary.channel_name}</span></Descriptions.Item>
      <Descriptions.Item label={t("xpost.export.messages")}>{summary.message_count}</Descriptions.Item>
      <Descriptions.Item label={t("xpost.export.size")}>{formatBytes(picked.size_bytes)}</Descriptions.Item>
      <Descriptions.Item label={t("xpost.export.from")}>{formatTime(summary.first_date, language)}</Descriptions.Item>
      <Descriptions.Item label={t("xpost.export.to")}>{formatTime(summary.last_date, language)}</Descriptions.Item>
      <Descriptions.Item label={t("xpost.export.files")}>{summary.media_files}</Descriptions.Item>
      <Descriptions.Item label={t("xpost.export.notIncluded")}>{summary.media_not_included}</Descriptions.Item>
    </Descriptions>
  );
}

/** The exports directory as a list to pick from: valid exports by name with what they hold, broken ones greyed out with why. */
function ExportPicker({ id, value, onChange }: { id?: string; value?: string; onChange?: (path: string) => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const exports = useQuery({ queryKey: ["xpost", "exports"], queryFn: listExports });
  const picked = exports.data?.find((item) => item.export_path === value);
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Select
        id={id}
        data-testid="xpost-export-picker"
        value={value}
        onChange={onChange}
        loading={exports.isLoading}
        placeholder={t("xpost.export.pick")}
        notFoundContent={exports.error ? errorText(exports.error) : t("xpost.export.none")}
        showSearch={{ optionFilterProp: "title" }}
        options={(exports.data ?? []).map((item) => ({
          value: item.export_path,
          title: item.name,
          disabled: !item.valid,
          label: item.valid && item.summary ? (
            <span>{item.name} <Typography.Text type="secondary">· {item.summary.channel_name} · {t("xpost.export.count", { count: item.summary.message_count })}</Typography.Text></span>
          ) : (
            <span>{item.name} <Typography.Text type="danger">· {item.problem}</Typography.Text></span>
          ),
        }))}
      />
      {picked && <ExportSummaryView picked={picked} />}
      <Button size="small" type="link" onClick={() => exports.refetch()} style={{ padding: 0 }}>{t("xpost.export.rescan")}</Button>
    </Space>
  );
}

interface TelegramForm {
  title: string;
  source: "pyrogram" | "export";
  chat?: string;
  export_path?: string;
}

function TelegramModal({ editing, onClose }: { editing: TelegramChannel | "new"; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<TelegramForm>();
  const source = Form.useWatch("source", form) ?? (editing === "new" ? "pyrogram" : editing.source);
  const save = useMutation({
    mutationFn: (values: TelegramForm) => {
      const body = values.source === "export"
        ? { title: values.title, export_path: values.export_path }
        : { title: values.title, chat: values.chat?.trim() };
      return editing === "new" ? createTelegramChannel({ ...body, source: values.source }) : updateTelegramChannel(editing.id, body);
    },
    onSuccess: () => {
      message.success(t("xpost.saved"));
      queryClient.invalidateQueries({ queryKey: ["xpost", "telegram"] });
      onClose();
    },
  });
  const initial: TelegramForm = editing === "new"
    ? { title: "", source: "pyrogram" }
    : { title: editing.title, source: editing.source, chat: editing.chat ?? undefined, export_path: editing.export_path ?? undefined };
  return (
    <Modal open title={t(editing === "new" ? "xpost.telegram.add" : "xpost.telegram.edit")} onCancel={onClose}
      okText={t("app.save")} cancelText={t("app.cancel")} confirmLoading={save.isPending} onOk={() => form.submit()} width={640} destroyOnHidden>
      <Form form={form} layout="vertical" initialValues={initial} onFinish={(values) => save.mutate(values)} data-testid="xpost-telegram-form">
        <Form.Item name="title" label={t("xpost.title")} rules={[{ required: true, message: t("xpost.required") }]}>
          <Input maxLength={200} />
        </Form.Item>
        <Form.Item name="source" label={t("xpost.telegram.source")}>
          <Radio.Group disabled={editing !== "new"} optionType="button" options={[
            { value: "pyrogram", label: t("xpost.source.pyrogram") },
            { value: "export", label: t("xpost.source.export") },
          ]} />
        </Form.Item>
        {source === "pyrogram" ? (
          <Form.Item name="chat" label={t("xpost.telegram.chat")} extra={t("xpost.telegram.chatHelp")}
            rules={[{ required: true, message: t("xpost.required") }]}>
            <Input maxLength={200} placeholder="@channel" />
          </Form.Item>
        ) : (
          <Form.Item name="export_path" label={t("xpost.telegram.export")} extra={t("xpost.telegram.exportHelp")}
            rules={[{ required: true, message: t("xpost.export.pick") }]}>
            <ExportPicker />
          </Form.Item>
        )}
        {save.error && <Typography.Text type="danger" className="pre-line" data-testid="xpost-form-error">{errorText(save.error)}</Typography.Text>}
      </Form>
    </Modal>
  );
}

export function TelegramChannels({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const channels = useTelegramChannels();
  const [editing, setEditing] = useState<TelegramChannel | "new" | null>(null);
  const staff = may.editCrossposting(user.role);
  const remove = (id: number) => deleteTelegramChannel(id).then(
    () => queryClient.invalidateQueries({ queryKey: ["xpost"] }),
    (error) => message.error(errorText(error)),
  );
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Space style={{ width: "100%", justifyContent: "space-between" }}>
        <Typography.Text type="secondary">{t("xpost.telegram.about")}</Typography.Text>
        {staff && <Button type="primary" onClick={() => setEditing("new")}>{t("xpost.telegram.add")}</Button>}
      </Space>
      {channels.error && <Typography.Text type="danger">{errorText(channels.error)}</Typography.Text>}
      <Table<TelegramChannel>
        data-testid="xpost-telegram-table" rowKey="id" size="small" loading={channels.isLoading}
        dataSource={newestFirst(channels.data)} pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: <Empty description={t("xpost.telegram.empty")} /> }}
        columns={[
          { title: t("xpost.title"), dataIndex: "title", render: (title: string) => <span className="wrap-anywhere">{title}</span> },
          { title: t("xpost.telegram.source"), dataIndex: "source", render: (source: string) => <Tag>{t(source === "export" ? "xpost.source.export" : "xpost.source.pyrogram")}</Tag> },
          { title: t("xpost.telegram.reads"), render: (_, row) => <span className="mono wrap-anywhere">{row.source === "export" ? row.export_path : row.chat}</span> },
          { title: t("xpost.created"), dataIndex: "created_at", render: (value: string) => formatTime(value, language) },
          ...(staff ? [{ title: t("jobs.actions"), render: (_: unknown, row: TelegramChannel) => (
            <Space>
              <Button size="small" onClick={() => setEditing(row)}>{t("app.edit")}</Button>
              <Popconfirm title={t("xpost.telegram.deleteConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={() => remove(row.id)}>
                <Button size="small" danger>{t("app.delete")}</Button>
              </Popconfirm>
            </Space>
          ) }] : []),
        ]}
      />
      {editing && <TelegramModal editing={editing} onClose={() => setEditing(null)} />}
    </Space>
  );
}

interface MaxForm {
  title: string;
  chat_id: number;
  bot_token?: string;
}

function MaxModal({ editing, onClose }: { editing: MaxChannel | "new"; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<MaxForm>();
  const save = useMutation({
    mutationFn: (values: MaxForm) => {
      const body = { title: values.title, chat_id: values.chat_id, ...(values.bot_token ? { bot_token: values.bot_token } : {}) };
      return editing === "new" ? createMaxChannel({ ...body, bot_token: values.bot_token ?? "" }) : updateMaxChannel(editing.id, body);
    },
    onSuccess: () => {
      message.success(t("xpost.saved"));
      queryClient.invalidateQueries({ queryKey: ["xpost", "max"] });
      onClose();
    },
  });
  const initial = editing === "new" ? {} : { title: editing.title, chat_id: editing.chat_id };
  return (
    <Modal open title={t(editing === "new" ? "xpost.max.add" : "xpost.max.edit")} onCancel={onClose}
      okText={t("app.save")} cancelText={t("app.cancel")} confirmLoading={save.isPending} onOk={() => form.submit()} destroyOnHidden>
      <Form form={form} layout="vertical" initialValues={initial} onFinish={(values) => save.mutate(values)} data-testid="xpost-max-form">
        <Form.Item name="title" label={t("xpost.title")} rules={[{ required: true, message: t("xpost.required") }]}>
          <Input maxLength={200} />
        </Form.Item>
        <Form.Item name="chat_id" label={t("xpost.max.chat")} rules={[{ required: true, message: t("xpost.required") }]}>
          <InputNumber style={{ width: "100%" }} precision={0} />
        </Form.Item>
        <Form.Item name="bot_token" label={t("xpost.max.token")}
          extra={editing === "new" ? t("xpost.max.tokenHelp") : t("xpost.max.tokenKeep", { hint: editing.bot_token_hint })}
          rules={editing === "new" ? [{ required: true, message: t("xpost.required") }] : []}>
          <Input.Password autoComplete="new-password" maxLength={500} visibilityToggle={false} />
        </Form.Item>
        {save.error && <Typography.Text type="danger" className="pre-line" data-testid="xpost-form-error">{errorText(save.error)}</Typography.Text>}
      </Form>
    </Modal>
  );
}

export function MaxChannels({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const channels = useMaxChannels();
  const [editing, setEditing] = useState<MaxChannel | "new" | null>(null);
  const staff = may.editCrossposting(user.role);
  const remove = (id: number) => deleteMaxChannel(id).then(
    () => queryClient.invalidateQueries({ queryKey: ["xpost"] }),
    (error) => message.error(errorText(error)),
  );
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Space style={{ width: "100%", justifyContent: "space-between" }}>
        <Typography.Text type="secondary">{t("xpost.max.about")}</Typography.Text>
        {staff && <Button type="primary" onClick={() => setEditing("new")}>{t("xpost.max.add")}</Button>}
      </Space>
      {channels.error && <Typography.Text type="danger">{errorText(channels.error)}</Typography.Text>}
      <Table<MaxChannel>
        data-testid="xpost-max-table" rowKey="id" size="small" loading={channels.isLoading}
        dataSource={newestFirst(channels.data)} pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: <Empty description={t("xpost.max.empty")} /> }}
        columns={[
          { title: t("xpost.title"), dataIndex: "title", render: (title: string) => <span className="wrap-anywhere">{title}</span> },
          { title: t("xpost.max.chat"), dataIndex: "chat_id", render: (id: number) => <span className="mono">{id}</span> },
          { title: t("xpost.max.token"), dataIndex: "bot_token_hint", render: (hint: string) => <span className="mono" data-testid="xpost-token-hint">{hint}</span> },
          { title: t("xpost.created"), dataIndex: "created_at", render: (value: string) => formatTime(value, language) },
          ...(staff ? [{ title: t("jobs.actions"), render: (_: unknown, row: MaxChannel) => (
            <Space>
              <Button size="small" onClick={() => setEditing(row)}>{t("app.edit")}</Button>
              <Popconfirm title={t("xpost.max.deleteConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={() => remove(row.id)}>
                <Button size="small" danger>{t("app.delete")}</Button>
              </Popconfirm>
            </Space>
          ) }] : []),
        ]}
      />
      {editing && <MaxModal editing={editing} onClose={() => setEditing(null)} />}
    </Space>
  );
}
