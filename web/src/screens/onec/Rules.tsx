// Classification rules in the order they apply (the first that matches a transaction gives its category): admins
// and managers add, edit, switch off, delete and move them; users read. The next classification uses the order.
import { ArrowDownOutlined, ArrowUpOutlined } from "@ant-design/icons";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, App as AntApp, AutoComplete, Button, Form, Input, InputNumber, Modal, Popconfirm, Select, Space, Switch, Table, Tag, Tooltip, Typography } from "antd";
import { useState } from "react";
import { createRule, deleteRule, listRules, orderRules, updateRule, type Direction, type Rule, type RuleIn } from "@/api/onec";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { useI18n } from "@/i18n";
import { may } from "@/roles";
import { ContractorSelect, useCategories, type ContractorChoice } from "./Transactions";

interface RuleForm {
  category: string;
  priority: number;
  contractor: ContractorChoice | null;
  inn: string;
  purpose_contains: string;
  operation: string;
  direction: Direction | null;
  active: boolean;
}

const blank = (s: string | undefined | null) => (s && s.trim() ? s.trim() : null);

function toRule(form: RuleForm): RuleIn {
  return {
    category: form.category.trim(),
    priority: form.priority ?? 100,
    contractor_key: form.contractor?.key ?? null,
    inn: blank(form.inn),
    purpose_contains: blank(form.purpose_contains),
    operation: blank(form.operation),
    direction: form.direction ?? null,
    active: form.active ?? true,
  };
}

function RuleEditor({ rule, open, onClose }: { rule: Rule | null; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const categories = useCategories();
  const [form] = Form.useForm<RuleForm>();
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const initial: RuleForm = {
    category: rule?.category ?? "",
    priority: rule?.priority ?? 100,
    contractor: rule?.contractor_key ? { key: rule.contractor_key, name: rule.contractor_key } : null,
    inn: rule?.inn ?? "",
    purpose_contains: rule?.purpose_contains ?? "",
    operation: rule?.operation ?? "",
    direction: rule?.direction ?? null,
    active: rule?.active ?? true,
  };
  const submit = async (values: RuleForm) => {
    setError(null);
    const body = toRule(values);
    if (!body.contractor_key && !body.inn && !body.purpose_contains && !body.operation && !body.direction) {
      setError(t("onec.rule.needsCondition"));
      return;
    }
    setSaving(true);
    try {
      if (rule) await updateRule(rule.id, body);
      else await createRule(body);
      message.success(rule ? t("onec.rule.saved") : t("onec.rule.added"));
      await queryClient.invalidateQueries({ queryKey: ["onec", "rules"] });
      onClose();
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal
      open={open}
      title={rule ? t("onec.rule.editTitle") : t("onec.rule.addTitle")}
      onCancel={onClose}
      onOk={() => form.submit()}
      okText={t("app.save")}
      cancelText={t("app.cancel")}
      confirmLoading={saving}
      destroyOnHidden
      width={560}
    >
      <Form<RuleForm> form={form} layout="vertical" initialValues={initial} onFinish={submit} data-testid="rule-form" preserve={false}>
        <Form.Item name="category" label={t("onec.col.category")} rules={[{ required: true, whitespace: true, message: t("onec.rule.categoryRequired") }]}>
          <AutoComplete
            options={(categories.data?.categories ?? []).map((c) => ({ value: c }))}
            showSearch={{ filterOption: (input, option) => String(option?.value ?? "").toLowerCase().includes(input.toLowerCase()) }}
            data-testid="rule-category"
          />
        </Form.Item>
        <Typography.Paragraph type="secondary">{t("onec.rule.conditionsHelp")}</Typography.Paragraph>
        <Form.Item name="contractor" label={t("onec.col.contractor")}>
          <ContractorSelect value={null} onChange={() => {}} placeholder={t("onec.rule.anyContractor")} style={{ width: "100%" }} testId="rule-contractor" />
        </Form.Item>
        <Form.Item name="inn" label={t("onec.inn")} rules={[{ pattern: /^\d{10}(\d{2})?$/, message: t("onec.rule.innFormat") }]}>
          <Input data-testid="rule-inn" />
        </Form.Item>
        <Form.Item name="purpose_contains" label={t("onec.rule.purposeContains")}>
          <Input data-testid="rule-purpose" />
        </Form.Item>
        <Form.Item name="operation" label={t("onec.rule.operation")}>
          <Input data-testid="rule-operation" />
        </Form.Item>
        <Form.Item name="direction" label={t("onec.col.direction")}>
          <Select
            allowClear
            placeholder={t("onec.rule.anyDirection")}
            options={[
              { value: "incoming", label: t("onec.direction.incoming") },
              { value: "outgoing", label: t("onec.direction.outgoing") },
            ]}
            data-testid="rule-direction"
          />
        </Form.Item>
        <Space size="large">
          <Form.Item name="priority" label={t("onec.rule.priority")} tooltip={t("onec.rule.priorityHelp")}>
            <InputNumber min={0} max={10000} />
          </Form.Item>
          <Form.Item name="active" label={t("onec.rule.active")} valuePropName="checked">
            <Switch />
          </Form.Item>
        </Space>
        {error && <Alert type="error" showIcon title={<span className="pre-line">{error}</span>} data-testid="rule-error" />}
      </Form>
    </Modal>
  );
}

function Conditions({ rule }: { rule: Rule }) {
  const { t } = useI18n();
  const parts: React.ReactNode[] = [];
  if (rule.direction) parts.push(<Tag key="d" color={rule.direction === "incoming" ? "green" : "volcano"}>{t(`onec.direction.${rule.direction}`)}</Tag>);
  if (rule.inn) parts.push(<Tag key="i">{t("onec.inn")} {rule.inn}</Tag>);
  if (rule.contractor_key)
    parts.push(
      <Tooltip key="c" title={rule.contractor_key}>
        <Tag>{t("onec.rule.contractorKey", { key: rule.contractor_key.slice(0, 8) })}</Tag>
      </Tooltip>,
    );
  if (rule.purpose_contains) parts.push(<Tag key="p" className="wrap-anywhere">{t("onec.rule.purposeHas", { text: rule.purpose_contains })}</Tag>);
  if (rule.operation) parts.push(<Tag key="o">{t("onec.rule.operationIs", { text: rule.operation })}</Tag>);
  return <Space size={[0, 4]} wrap>{parts}</Space>;
}

export function Rules({ user }: { user: User }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const canEdit = may.edit1c(user.role);
  const rules = useQuery({ queryKey: ["onec", "rules"], queryFn: listRules });
  const [editing, setEditing] = useState<{ rule: Rule | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const list = rules.data ?? [];

  const act = (work: () => Promise<unknown>, done?: string) => {
    setBusy(true);
    work()
      .then(
        () => {
          if (done) message.success(done);
          return queryClient.invalidateQueries({ queryKey: ["onec", "rules"] });
        },
        (error) => message.error(errorText(error)),
      )
      .finally(() => setBusy(false));
  };

  const move = (index: number, by: number) => {
    const ids = list.map((r) => r.id);
    const [moved] = ids.splice(index, 1);
    ids.splice(index + by, 0, moved);
    act(() => orderRules(ids), t("onec.rule.reordered"));
  };

  return (
    <Space orientation="vertical" style={{ width: "100%" }}>
      <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
        <Typography.Text type="secondary">{t("onec.rule.help")}</Typography.Text>
        <Tooltip title={canEdit ? undefined : t("onec.editNotAllowed", { role: user.role })}>
          <Button type="primary" disabled={!canEdit} onClick={() => setEditing({ rule: null })} data-testid="rule-add">
            {t("onec.rule.add")}
          </Button>
        </Tooltip>
      </Space>
      {rules.error && <Alert type="error" showIcon title={errorText(rules.error)} />}
      <Table<Rule>
        rowKey="id"
        size="small"
        loading={rules.isLoading || busy}
        dataSource={list}
        pagination={false}
        data-testid="rules-table"
        onRow={(row) => ({ "data-rule-id": row.id }) as React.HTMLAttributes<HTMLElement>}
        locale={{ emptyText: t("onec.rule.none") }}
        columns={[
          { title: "#", key: "place", width: 50, render: (_: unknown, __: Rule, index: number) => index + 1 },
          { title: t("onec.col.category"), dataIndex: "category", width: 200, render: (v: string) => <span className="wrap-anywhere" data-testid="rule-category-cell">{v}</span> },
          { title: t("onec.rule.conditions"), key: "conditions", render: (_: unknown, row) => <Conditions rule={row} /> },
          { title: t("onec.rule.priority"), dataIndex: "priority", width: 90 },
          {
            title: t("onec.rule.active"),
            dataIndex: "active",
            width: 90,
            render: (active: boolean, row) => (
              <Switch size="small" checked={active} disabled={!canEdit || busy} aria-label={t("onec.rule.active")}
                onChange={(checked) => act(() => updateRule(row.id, { active: checked }))} />
            ),
          },
          ...(canEdit
            ? [
                {
                  title: t("jobs.actions"),
                  key: "actions",
                  width: 250,
                  render: (_: unknown, row: Rule, index: number) => (
                    <Space size={4}>
                      <Button size="small" icon={<ArrowUpOutlined />} disabled={index === 0 || busy} onClick={() => move(index, -1)}
                        aria-label={t("onec.rule.up")} data-testid="rule-up" />
                      <Button size="small" icon={<ArrowDownOutlined />} disabled={index === list.length - 1 || busy} onClick={() => move(index, 1)}
                        aria-label={t("onec.rule.down")} data-testid="rule-down" />
                      <Button size="small" onClick={() => setEditing({ rule: row })}>{t("app.edit")}</Button>
                      <Popconfirm title={t("onec.rule.deleteConfirm")} okText={t("app.yes")} cancelText={t("app.no")}
                        onConfirm={() => act(() => deleteRule(row.id), t("onec.rule.deleted"))}>
                        <Button size="small" danger>{t("app.delete")}</Button>
                      </Popconfirm>
                    </Space>
                  ),
                },
              ]
            : []),
        ]}
      />
      {editing && <RuleEditor rule={editing.rule} open onClose={() => setEditing(null)} />}
    </Space>
  );
}
