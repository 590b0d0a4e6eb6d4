// The synced bank transactions, newest first: filtered by period, contractor, category and direction on the server,
// paged; admins and managers set a transaction's category by hand (kept over every later sync) or give it back to
// classification. 1C's fields (purpose, contractor names) are outside text: shown as text only.
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, App as AntApp, Button, DatePicker, Select, Space, Table, Tag, Tooltip, Typography } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useMemo, useState } from "react";
import {
  listCategories,
  listContractors,
  listTransactions,
  setCategory,
  UNCLASSIFIED,
  type Direction,
  type Transaction,
} from "@/api/onec";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { useI18n } from "@/i18n";
import { may } from "@/roles";

const LIVE_MS = 3000;

export interface ContractorChoice {
  key: string;
  name: string;
}

export function useCategories() {
  return useQuery({ queryKey: ["onec", "categories"], queryFn: listCategories, staleTime: 5 * 60_000 });
}

/** A contractor picked by part of its name or the start of its ИНН, searched on the server. */
export function ContractorSelect({ value, onChange, placeholder, testId, style }: {
  value: ContractorChoice | null;
  onChange: (choice: ContractorChoice | null) => void;
  placeholder: string;
  testId?: string;
  style?: React.CSSProperties;
}) {
  const { t } = useI18n();
  const [q, setQ] = useState("");
  const found = useQuery({
    queryKey: ["onec", "books", "contractor-search", q],
    queryFn: () => listContractors(q || undefined, 20, 0),
    placeholderData: keepPreviousData,
  });
  const options = (found.data?.items ?? []).map((c) => ({ value: c.ref_key, label: c.inn ? `${c.name} · ${c.inn}` : c.name }));
  if (value && !options.some((o) => o.value === value.key)) options.unshift({ value: value.key, label: value.name });
  return (
    <Select
      showSearch={{ filterOption: false, onSearch: setQ }}
      allowClear
      value={value?.key ?? null}
      placeholder={placeholder}
      onChange={(key) => {
        const option = options.find((o) => o.value === key);
        onChange(key && option ? { key, name: option.label } : null);
      }}
      options={options}
      notFoundContent={found.isFetching ? t("app.loading") : t("onec.noContractors")}
      style={style ?? { width: 280 }}
      data-testid={testId}
    />
  );
}

function Amount({ row }: { row: Transaction }) {
  const { language } = useI18n();
  const value = Number(row.amount);
  const text = Number.isFinite(value)
    ? value.toLocaleString(language, { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : String(row.amount);
  return (
    <Typography.Text type={row.direction === "incoming" ? "success" : undefined} style={{ whiteSpace: "nowrap" }}>
      {row.direction === "incoming" ? "+" : "−"}
      {text}
    </Typography.Text>
  );
}

function CategoryCell({ row, canEdit, categories }: { row: Transaction; canEdit: boolean; categories: string[] }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [saving, setSaving] = useState(false);
  const source = row.category_source ? (
    <Tag color={row.category_source === "manual" ? "blue" : row.category_source === "rule" ? "green" : "purple"} data-testid="category-source">
      {t(`onec.source.${row.category_source}`)}
    </Tag>
  ) : null;
  const save = (category: string | null) => {
    setSaving(true);
    setCategory(row.ref_key, category)
      .then(
        () => {
          message.success(category ? t("onec.categorySet", { category }) : t("onec.categoryCleared"));
          return queryClient.invalidateQueries({ queryKey: ["onec", "books"] });
        },
        (error) => message.error(errorText(error)),
      )
      .finally(() => setSaving(false));
  };
  if (!canEdit) {
    return (
      <Space size={4} wrap>
        {row.category ? <span data-testid="category">{row.category}</span> : <Typography.Text type="secondary">{t("onec.unclassified")}</Typography.Text>}
        {source}
      </Space>
    );
  }
  const options = [...new Set([...(row.category ? [row.category] : []), ...categories])].map((c) => ({ value: c, label: c }));
  return (
    <Space size={4} wrap>
      <Select
        size="small"
        value={row.category}
        placeholder={t("onec.unclassified")}
        options={options}
        loading={saving}
        disabled={saving}
        showSearch
        onChange={(value) => value && value !== row.category && save(value)}
        style={{ width: 170 }}
        aria-label={t("onec.col.category")}
        data-testid="category-select"
      />
      {source}
      {row.category_source === "manual" && (
        <Tooltip title={t("onec.categoryResetHelp")}>
          <Button size="small" type="link" onClick={() => save(null)} data-testid="category-reset">{t("onec.categoryReset")}</Button>
        </Tooltip>
      )}
    </Space>
  );
}

export function Transactions({ user, live, contractor, onContractor }: {
  user: User;
  live: boolean;
  contractor: ContractorChoice | null;
  onContractor: (choice: ContractorChoice | null) => void;
}) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const canEdit = may.edit1c(user.role);
  const [period, setPeriod] = useState<[Dayjs, Dayjs] | null>(null);
  const [category, setCategoryFilter] = useState<string | undefined>();
  const [direction, setDirection] = useState<Direction | undefined>();
  const [page, setPage] = useState({ current: 1, pageSize: 20 });
  const categories = useCategories();
  const filter = {
    date_from: period?.[0].format("YYYY-MM-DD"),
    date_to: period?.[1].format("YYYY-MM-DD"),
    contractor: contractor?.key,
    category,
    direction,
    limit: page.pageSize,
    offset: (page.current - 1) * page.pageSize,
  };
  const rows = useQuery({
    queryKey: ["onec", "books", "transactions", filter],
    queryFn: () => listTransactions(filter),
    placeholderData: keepPreviousData,
    // While a bank sync runs, its rows arrive as it writes them.
    refetchInterval: live ? LIVE_MS : false,
  });
  const firstPage = () => setPage((p) => ({ ...p, current: 1 }));
  const categoryOptions = useMemo(
    () => [
      { value: UNCLASSIFIED, label: t("onec.unclassified") },
      ...(categories.data?.categories ?? []).map((c) => ({ value: c, label: c })),
    ],
    [categories.data, t],
  );

  return (
    <Space orientation="vertical" style={{ width: "100%" }}>
      <Space wrap data-testid="transaction-filters">
        <DatePicker.RangePicker
          value={period}
          onChange={(value) => {
            setPeriod(value && value[0] && value[1] ? [value[0], value[1]] : null);
            firstPage();
          }}
          format="YYYY-MM-DD"
          placeholder={[t("onec.filter.from"), t("onec.filter.to")]}
          data-testid="filter-period"
        />
        <ContractorSelect
          value={contractor}
          onChange={(choice) => {
            onContractor(choice);
            firstPage();
          }}
          placeholder={t("onec.filter.contractor")}
          testId="filter-contractor"
        />
        <Select
          allowClear
          value={category}
          onChange={(value) => {
            setCategoryFilter(value);
            firstPage();
          }}
          options={categoryOptions}
          placeholder={t("onec.filter.category")}
          style={{ width: 200 }}
          data-testid="filter-category"
        />
        <Select
          allowClear
          value={direction}
          onChange={(value) => {
            setDirection(value);
            firstPage();
          }}
          options={[
            { value: "incoming", label: t("onec.direction.incoming") },
            { value: "outgoing", label: t("onec.direction.outgoing") },
          ]}
          placeholder={t("onec.filter.direction")}
          style={{ width: 160 }}
          data-testid="filter-direction"
        />
        {live && <Tag color="processing">{t("onec.liveRows")}</Tag>}
      </Space>
      {rows.error && <Alert type="error" showIcon title={errorText(rows.error)} />}
      <Table<Transaction>
        rowKey="ref_key"
        size="small"
        loading={rows.isLoading}
        dataSource={rows.data?.items ?? []}
        data-testid="transactions-table"
        onRow={(row) => ({ "data-ref-key": row.ref_key }) as React.HTMLAttributes<HTMLElement>}
        locale={{ emptyText: t("onec.noTransactions") }}
        pagination={{
          current: page.current,
          pageSize: page.pageSize,
          total: rows.data?.total ?? 0,
          showSizeChanger: true,
          pageSizeOptions: [20, 50, 100],
          showTotal: (total) => t("onec.total", { total }),
          onChange: (current, pageSize) => setPage({ current: pageSize === page.pageSize ? current : 1, pageSize }),
        }}
        columns={[
          {
            title: t("onec.col.date"),
            dataIndex: "date",
            width: 140,
            render: (value: string) => dayjs(value).format("YYYY-MM-DD HH:mm"),
          },
          { title: t("onec.col.number"), dataIndex: "number", width: 110, render: (value: string) => <span className="mono">{value}</span> },
          {
            title: t("onec.col.direction"),
            dataIndex: "direction",
            width: 120,
            render: (value: Direction) => (
              <Tag color={value === "incoming" ? "green" : "volcano"}>{t(`onec.direction.${value}`)}</Tag>
            ),
          },
          { title: t("onec.col.amount"), dataIndex: "amount", align: "right", width: 140, render: (_: unknown, row) => <Amount row={row} /> },
          {
            title: t("onec.col.contractor"),
            dataIndex: "contractor_name",
            width: 240,
            render: (_: unknown, row) =>
              row.contractor_key ? (
                <div className="wrap-anywhere" data-testid="contractor-cell">
                  {row.contractor_name ? (
                    <Typography.Link onClick={() => onContractor({ key: row.contractor_key!, name: row.contractor_name! })}>
                      {row.contractor_name}
                    </Typography.Link>
                  ) : (
                    <Typography.Text type="secondary">{t("onec.unknownContractor")}</Typography.Text>
                  )}
                  {row.contractor_inn && <div><Typography.Text type="secondary">{t("onec.inn")} {row.contractor_inn}</Typography.Text></div>}
                </div>
              ) : (
                <Typography.Text type="secondary">{t("app.none")}</Typography.Text>
              ),
          },
          {
            title: t("onec.col.purpose"),
            dataIndex: "purpose",
            render: (value: string, row) => (
              <div className="wrap-anywhere" data-testid="purpose-cell">
                {value}
                {row.operation && <div><Typography.Text type="secondary">{row.operation}</Typography.Text></div>}
              </div>
            ),
          },
          {
            title: t("onec.col.category"),
            dataIndex: "category",
            width: 300,
            render: (_: unknown, row) => <CategoryCell row={row} canEdit={canEdit} categories={categories.data?.categories ?? []} />,
          },
        ]}
      />
    </Space>
  );
}
