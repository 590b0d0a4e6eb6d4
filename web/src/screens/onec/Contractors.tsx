// The contractors from 1C's catalog (folders left out), found by part of a name or the start of an ИНН, paged on the
// server; each opens its transactions. Names come from 1C: outside text, shown as text.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Alert, Button, Input, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { listContractors, type Contractor } from "@/api/onec";
import { useErrorText } from "@/errors";
import { useI18n } from "@/i18n";
import type { ContractorChoice } from "./Transactions";

export function Contractors({ live, onTransactions }: { live: boolean; onTransactions: (choice: ContractorChoice) => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [q, setQ] = useState("");
  const [page, setPage] = useState({ current: 1, pageSize: 20 });
  const rows = useQuery({
    queryKey: ["onec", "books", "contractors", q, page],
    queryFn: () => listContractors(q || undefined, page.pageSize, (page.current - 1) * page.pageSize),
    placeholderData: keepPreviousData,
    refetchInterval: live ? 3000 : false,
  });
  return (
    <Space orientation="vertical" style={{ width: "100%" }}>
      <Input.Search
        allowClear
        placeholder={t("onec.contractorSearch")}
        onSearch={(value) => {
          setQ(value.trim());
          setPage((p) => ({ ...p, current: 1 }));
        }}
        style={{ maxWidth: 420 }}
        data-testid="contractor-search"
      />
      {rows.error && <Alert type="error" showIcon title={errorText(rows.error)} />}
      <Table<Contractor>
        rowKey="ref_key"
        size="small"
        loading={rows.isLoading}
        dataSource={rows.data?.items ?? []}
        data-testid="contractors-table"
        locale={{ emptyText: q ? t("onec.noContractorsFound", { q }) : t("onec.noContractors") }}
        pagination={{
          current: page.current,
          pageSize: page.pageSize,
          total: rows.data?.total ?? 0,
          showSizeChanger: true,
          showTotal: (total) => t("onec.total", { total }),
          onChange: (current, pageSize) => setPage({ current: pageSize === page.pageSize ? current : 1, pageSize }),
        }}
        columns={[
          {
            title: t("onec.col.name"),
            dataIndex: "name",
            render: (name: string, row) => (
              <div className="wrap-anywhere" data-testid="contractor-name">
                {name}
                {row.deleted && <Tag style={{ marginLeft: 8 }}>{t("onec.deleted")}</Tag>}
                {row.full_name && row.full_name !== name && (
                  <div><Typography.Text type="secondary">{row.full_name}</Typography.Text></div>
                )}
              </div>
            ),
          },
          { title: t("onec.inn"), dataIndex: "inn", width: 150, render: (v: string) => <span className="mono">{v || "—"}</span> },
          { title: t("onec.kpp"), dataIndex: "kpp", width: 120, render: (v: string) => <span className="mono">{v || "—"}</span> },
          { title: t("onec.code"), dataIndex: "code", width: 120, render: (v: string) => <span className="mono">{v}</span> },
          {
            title: "",
            key: "actions",
            width: 140,
            render: (_: unknown, row) => (
              <Button size="small" onClick={() => onTransactions({ key: row.ref_key, name: row.name })}>
                {t("onec.showTransactions")}
              </Button>
            ),
          },
        ]}
      />
    </Space>
  );
}
