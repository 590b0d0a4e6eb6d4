// The scheduled syncs: when each runs next and last, whether it is paused (and by whom); admins and managers pause
// and resume them (also possible in the Temporal Web UI).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, App as AntApp, Button, Popconfirm, Space, Table, Tag, Tooltip, Typography } from "antd";
import { useState } from "react";
import { listSchedules, pauseSchedule, type Schedule } from "@/api/onec";
import type { User } from "@/api/session";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { may } from "@/roles";

export function Schedules({ user }: { user: User }) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const canEdit = may.edit1c(user.role);
  const schedules = useQuery({ queryKey: ["onec", "schedules"], queryFn: listSchedules, refetchInterval: 30000 });
  const [busy, setBusy] = useState<string | null>(null);

  const toggle = (row: Schedule) => {
    setBusy(row.name);
    pauseSchedule(row.name, !row.paused)
      .then(
        (next) => {
          queryClient.setQueryData<Schedule[]>(["onec", "schedules"], (rows) => rows?.map((r) => (r.name === next.name ? next : r)));
          message.success(next.paused ? t("onec.schedule.pausedNow") : t("onec.schedule.resumedNow"));
        },
        (error) => message.error(errorText(error)),
      )
      .finally(() => setBusy(null));
  };

  return (
    <Space orientation="vertical" style={{ width: "100%" }}>
      {schedules.error && <Alert type="error" showIcon title={errorText(schedules.error)} />}
      <Table<Schedule>
        rowKey="name"
        size="small"
        loading={schedules.isLoading}
        dataSource={schedules.data ?? []}
        pagination={false}
        data-testid="schedules-table"
        onRow={(row) => ({ "data-schedule": row.name }) as React.HTMLAttributes<HTMLElement>}
        locale={{ emptyText: t("onec.schedule.none") }}
        columns={[
          {
            title: t("onec.schedule.what"),
            dataIndex: "name",
            render: (name: Schedule["name"]) => (name === "bank-transactions" ? t("onec.last.bank") : t("onec.last.contractors")),
          },
          {
            title: t("onec.schedule.state"),
            dataIndex: "paused",
            width: 150,
            render: (paused: boolean, row) => (
              <Space orientation="vertical" size={0}>
                <Tag color={paused ? "warning" : "success"} data-testid="schedule-state" data-paused={paused ? "true" : "false"}>
                  {paused ? t("onec.schedule.paused") : t("onec.schedule.active")}
                </Tag>
                {row.note && <Typography.Text type="secondary" className="wrap-anywhere">{row.note}</Typography.Text>}
              </Space>
            ),
          },
          {
            title: t("onec.schedule.next"),
            dataIndex: "next_runs",
            render: (runs: string[], row) =>
              row.paused || runs.length === 0 ? "—" : runs.map((run) => formatTime(run, language)).join(", "),
          },
          { title: t("onec.schedule.last"), dataIndex: "last_run", width: 200, render: (v: string | null) => formatTime(v, language) },
          {
            title: "",
            key: "actions",
            width: 150,
            render: (_: unknown, row) => (
              <Tooltip title={canEdit ? undefined : t("onec.editNotAllowed", { role: user.role })}>
                <Popconfirm
                  title={row.paused ? t("onec.schedule.resumeConfirm") : t("onec.schedule.pauseConfirm")}
                  okText={t("app.yes")}
                  cancelText={t("app.no")}
                  onConfirm={() => toggle(row)}
                  disabled={!canEdit}
                >
                  <Button size="small" disabled={!canEdit} loading={busy === row.name} data-testid="schedule-toggle">
                    {row.paused ? t("onec.schedule.resume") : t("onec.schedule.pause")}
                  </Button>
                </Popconfirm>
              </Tooltip>
            ),
          },
        ]}
      />
    </Space>
  );
}
