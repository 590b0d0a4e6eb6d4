// The tracker's settings tab (admins): agent configs (which model and prompt extraction, analysis runs and
// experiments use; one active per role) and LLM providers (where messages are sent). No API key is ever stored or
// shown: a provider names the environment variable its workers read the key from.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import {
  Alert, App as AntApp, Button, Card, Empty, Form, Input, InputNumber, Modal, Popconfirm, Select, Space, Switch, Table, Tag,
  Tooltip, Typography,
} from "antd";
import { useState } from "react";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { may } from "@/roles";
import {
  AGENT_ROLES, createAgent, createProvider, deleteAgent, deleteProvider, listAgents, listProviders, updateAgent,
  updateProvider, type Agent, type AgentIn, type Provider, type ProviderIn,
} from "./analysisApi";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function AgentModal({ agent, providers, onClose }: { agent: Agent | "new"; providers: Provider[]; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<AgentIn>();
  const [busy, setBusy] = useState(false);
  const initial: AgentIn = agent === "new"
    ? { name: "", role: "proposal_generator", provider_id: null, model: "", system_prompt: "", temperature: null, active: true }
    : agent;
  const save = async (values: AgentIn) => {
    setBusy(true);
    try {
      const body = { ...values, provider_id: values.provider_id ?? null, temperature: values.temperature ?? null, model: values.model ?? "" };
      if (agent === "new") await createAgent(body);
      else await updateAgent(agent.id, body);
      await queryClient.invalidateQueries({ queryKey: ["tracker-agents"] });
      message.success(t("tracker.ops.saved"));
      onClose();
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal open title={agent === "new" ? t("tracker.ops.newAgent") : t("tracker.ops.editAgent", { name: agent.name })} onCancel={onClose}
      onOk={() => form.submit()} okText={t("app.save")} cancelText={t("app.cancel")} confirmLoading={busy} width={720} destroyOnHidden>
      <Form<AgentIn> form={form} layout="vertical" initialValues={initial} onFinish={save}>
        <Space size="middle" wrap align="start">
          <Form.Item name="name" label={t("tracker.ops.name")} rules={[{ required: true, max: 100 }]}><Input style={{ width: 240 }} /></Form.Item>
          <Form.Item name="role" label={t("tracker.ops.role")} rules={[{ required: true }]}>
            <Select style={{ width: 220 }} options={AGENT_ROLES.map((role) => ({ value: role, label: t(`tracker.ops.role.${role}`) }))} />
          </Form.Item>
          <Form.Item name="active" label={t("tracker.ops.active")} valuePropName="checked" tooltip={t("tracker.ops.activeHelp")}><Switch /></Form.Item>
        </Space>
        <Space size="middle" wrap align="start">
          <Form.Item name="provider_id" label={t("tracker.ops.provider")}>
            <Select allowClear style={{ width: 240 }} placeholder={t("tracker.ops.configuredLlm")}
              options={providers.map((p) => ({ value: p.id, label: p.name }))} />
          </Form.Item>
          <Form.Item name="model" label={t("tracker.ops.model")} rules={[{ max: 200 }]}>
            <Input style={{ width: 220 }} placeholder={t("tracker.ops.providerModel")} />
          </Form.Item>
          <Form.Item name="temperature" label={t("tracker.ops.temperature")}><InputNumber min={0} max={2} step={0.1} /></Form.Item>
        </Space>
        <Form.Item name="system_prompt" label={t("tracker.ops.systemPrompt")} rules={[{ required: true, max: 20000 }]}>
          <Input.TextArea autoSize={{ minRows: 6, maxRows: 16 }} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function ProviderModal({ provider, onClose }: { provider: Provider | "new"; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<ProviderIn>();
  const [busy, setBusy] = useState(false);
  const initial: ProviderIn = provider === "new"
    ? { name: "", kind: "openai", base_url: "", api_key_env: null, chat_model: "", embedding_model: "", active: true }
    : provider;
  const save = async (values: ProviderIn) => {
    setBusy(true);
    try {
      const body = { ...values, api_key_env: values.api_key_env?.trim() || null };
      if (provider === "new") await createProvider(body);
      else await updateProvider(provider.id, body);
      await queryClient.invalidateQueries({ queryKey: ["tracker-providers"] });
      message.success(t("tracker.ops.saved"));
      onClose();
    } catch (error) {
      message.error(errorText(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal open title={provider === "new" ? t("tracker.ops.newProvider") : t("tracker.ops.editProvider", { name: provider.name })} onCancel={onClose}
      onOk={() => form.submit()} okText={t("app.save")} cancelText={t("app.cancel")} confirmLoading={busy} width={720} destroyOnHidden>
      <Form<ProviderIn> form={form} layout="vertical" initialValues={initial} onFinish={save}>
        <Space size="middle" wrap align="start">
          <Form.Item name="name" label={t("tracker.ops.name")} rules={[{ required: true, max: 100 }]}><Input style={{ width: 220 }} /></Form.Item>
          <Form.Item name="kind" label={t("tracker.ops.kind")}>
            <Select style={{ width: 140 }} options={[{ value: "openai", label: "OpenAI" }, { value: "ollama", label: "Ollama" }]} />
          </Form.Item>
          <Form.Item name="active" label={t("tracker.ops.active")} valuePropName="checked" tooltip={t("tracker.ops.providerActiveHelp")}><Switch /></Form.Item>
        </Space>
        <Form.Item name="base_url" label={t("tracker.ops.baseUrl")} rules={[{ required: true, type: "url", message: t("tracker.ops.baseUrlInvalid") }]}>
          <Input placeholder="http://127.0.0.1:11434/v1" />
        </Form.Item>
        <Space size="middle" wrap align="start">
          <Form.Item name="chat_model" label={t("tracker.ops.chatModel")} rules={[{ required: true, max: 200 }]}><Input style={{ width: 240 }} /></Form.Item>
          <Form.Item name="embedding_model" label={t("tracker.ops.embeddingModel")} rules={[{ required: true, max: 200 }]}><Input style={{ width: 240 }} /></Form.Item>
        </Space>
        <Form.Item name="api_key_env" label={t("tracker.ops.keyEnv")} extra={t("tracker.ops.keyEnvHelp")}
          rules={[{ pattern: ENV_NAME, message: t("tracker.ops.keyEnvInvalid") }]}>
          <Input className="mono" placeholder="LONGRUN_LLM_KEY_…" autoComplete="off" style={{ width: 320 }} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

export function Settings({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const agents = useQuery({ queryKey: ["tracker-agents", "all"], queryFn: () => listAgents() });
  const providers = useQuery({ queryKey: ["tracker-providers"], queryFn: listProviders });
  const [agentEdit, setAgentEdit] = useState<Agent | "new" | null>(null);
  const [providerEdit, setProviderEdit] = useState<Provider | "new" | null>(null);
  if (!may.adminTracker(user.role)) return <Alert type="info" showIcon message={t("app.notAllowed", { role: user.role })} />;
  const providerName = (id: number | null) =>
    id === null ? t("tracker.ops.configuredLlm") : providers.data?.find((p) => p.id === id)?.name ?? `#${id}`;
  const act = (work: Promise<unknown>, keys: string) =>
    work.then(() => queryClient.invalidateQueries({ queryKey: [keys] }), (error) => message.error(errorText(error)));
  return (
    <Space direction="vertical" size="large" style={{ width: "100%" }}>
      <Card size="small" title={t("tracker.ops.agents")} data-testid="agents"
        extra={<Button type="primary" size="small" onClick={() => setAgentEdit("new")}>{t("tracker.ops.newAgent")}</Button>}>
        <Typography.Paragraph type="secondary">{t("tracker.ops.agentsHelp")}</Typography.Paragraph>
        {agents.error && <Typography.Text type="danger">{errorText(agents.error)}</Typography.Text>}
        <Table<Agent>
          rowKey="id"
          size="small"
          loading={agents.isLoading}
          dataSource={agents.data ?? []}
          pagination={false}
          locale={{ emptyText: <Empty description={t("tracker.ops.noAgents")} /> }}
          onRow={(a) => ({ "data-agent-id": a.id }) as React.HTMLAttributes<HTMLElement>}
          columns={[
            { title: t("tracker.ops.name"), dataIndex: "name", render: (name) => <Typography.Text strong className="wrap-anywhere">{name}</Typography.Text> },
            { title: t("tracker.ops.role"), render: (_, a) => <Tag>{t(`tracker.ops.role.${a.role}`)}</Tag> },
            { title: t("tracker.ops.provider"), render: (_, a) => providerName(a.provider_id) },
            { title: t("tracker.ops.model"), render: (_, a) => a.model ? <span className="mono">{a.model}</span> : <Typography.Text type="secondary">{t("tracker.ops.providerModel")}</Typography.Text> },
            { title: t("tracker.ops.temperature"), render: (_, a) => a.temperature ?? "—" },
            { title: t("tracker.ops.systemPrompt"), render: (_, a) => (
              <Typography.Paragraph type="secondary" className="wrap-anywhere" style={{ margin: 0, maxWidth: 360 }} ellipsis={{ rows: 2, tooltip: false }}>
                {a.system_prompt}
              </Typography.Paragraph>
            ) },
            { title: t("tracker.ops.active"), render: (_, a) => (
              a.active ? (
                // Switching off leaves the role with no active config: its jobs cannot start until one is.
                <Popconfirm title={t("tracker.ops.deactivateAgentConfirm", { role: t(`tracker.ops.role.${a.role}`) })} okText={t("app.yes")}
                  cancelText={t("app.no")} onConfirm={() => act(updateAgent(a.id, { active: false }), "tracker-agents")}>
                  <Switch size="small" checked aria-label={t("tracker.ops.active")} />
                </Popconfirm>
              ) : (
                <Tooltip title={t("tracker.ops.activeHelp")}>
                  <Switch size="small" checked={false} aria-label={t("tracker.ops.active")}
                    onChange={() => act(updateAgent(a.id, { active: true }), "tracker-agents")} />
                </Tooltip>
              )
            ) },
            { title: t("tracker.ops.updated"), render: (_, a) => formatTime(a.updated_at, language) },
            { title: t("jobs.actions"), render: (_, a) => (
              <Space size="small">
                <Button size="small" onClick={() => setAgentEdit(a)}>{t("app.edit")}</Button>
                <Popconfirm title={t("tracker.ops.deleteAgentConfirm", { name: a.name })} okText={t("app.yes")} cancelText={t("app.no")}
                  onConfirm={() => act(deleteAgent(a.id), "tracker-agents")}>
                  <Button size="small" danger>{t("app.delete")}</Button>
                </Popconfirm>
              </Space>
            ) },
          ]}
        />
      </Card>
      <Card size="small" title={t("tracker.ops.providers")} data-testid="providers"
        extra={<Button type="primary" size="small" onClick={() => setProviderEdit("new")}>{t("tracker.ops.newProvider")}</Button>}>
        <Typography.Paragraph type="secondary">{t("tracker.ops.providersHelp")}</Typography.Paragraph>
        {providers.error && <Typography.Text type="danger">{errorText(providers.error)}</Typography.Text>}
        <Table<Provider>
          rowKey="id"
          size="small"
          loading={providers.isLoading}
          dataSource={providers.data ?? []}
          pagination={false}
          locale={{ emptyText: <Empty description={t("tracker.ops.noProviders")} /> }}
          onRow={(p) => ({ "data-provider-id": p.id }) as React.HTMLAttributes<HTMLElement>}
          columns={[
            { title: t("tracker.ops.name"), dataIndex: "name", render: (name) => <Typography.Text strong className="wrap-anywhere">{name}</Typography.Text> },
            { title: t("tracker.ops.kind"), render: (_, p) => <Tag>{p.kind === "ollama" ? "Ollama" : "OpenAI"}</Tag> },
            { title: t("tracker.ops.baseUrl"), render: (_, p) => <span className="mono wrap-anywhere">{p.base_url}</span> },
            { title: t("tracker.ops.chatModel"), render: (_, p) => <span className="mono">{p.chat_model}</span> },
            { title: t("tracker.ops.embeddingModel"), render: (_, p) => <span className="mono">{p.embedding_model}</span> },
            { title: t("tracker.ops.key"), render: (_, p) => (
              <Tooltip title={t("tracker.ops.keyEnvHelp")}>
                {p.api_key_env
                  ? <span data-testid="provider-key">{t("tracker.ops.keyFrom")} <span className="mono">${p.api_key_env}</span></span>
                  : <Typography.Text type="secondary" data-testid="provider-key">{t("tracker.ops.noKey")}</Typography.Text>}
              </Tooltip>
            ) },
            { title: t("tracker.ops.active"), render: (_, p) => (
              <Switch size="small" checked={p.active} aria-label={t("tracker.ops.active")}
                onChange={(active) => act(updateProvider(p.id, { active }), "tracker-providers")} />
            ) },
            { title: t("jobs.actions"), render: (_, p) => (
              <Space size="small">
                <Button size="small" onClick={() => setProviderEdit(p)}>{t("app.edit")}</Button>
                <Popconfirm title={t("tracker.ops.deleteProviderConfirm", { name: p.name })} okText={t("app.yes")} cancelText={t("app.no")}
                  onConfirm={() => act(deleteProvider(p.id), "tracker-providers")}>
                  <Button size="small" danger>{t("app.delete")}</Button>
                </Popconfirm>
              </Space>
            ) },
          ]}
        />
      </Card>
      {agentEdit && <AgentModal agent={agentEdit} providers={providers.data ?? []} onClose={() => setAgentEdit(null)} />}
      {providerEdit && <ProviderModal provider={providerEdit} onClose={() => setProviderEdit(null)} />}
    </Space>
  );
}
