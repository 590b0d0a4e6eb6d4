// Services (admins): long-lived workflows that keep a part of Longrun working, with their health. They are not jobs:
// nothing here cancels them (the API refuses it too).
import { useQuery } from "@tanstack/react-query";
import { Table, Tag, Tooltip, Typography } from "antd";
import { listServices, type ServiceHealth } from "@/api/jobs";
import { useJobTypeName } from "@/components/JobTypeName";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";

const REFRESH_MS = 5000;

export function Services() {
  const { t, language } = useI18n();
  const typeName = useJobTypeName();
  const errorText = useErrorText();
  const services = useQuery({ queryKey: ["services"], queryFn: listServices, refetchInterval: REFRESH_MS });
  return (
    <section data-testid="services">
      <Typography.Title level={4}>{t("jobs.services")}</Typography.Title>
      <Typography.Paragraph type="secondary">{t("jobs.serviceNote")}</Typography.Paragraph>
      {services.error && <Typography.Text type="danger">{errorText(services.error)}</Typography.Text>}
      <Table<ServiceHealth>
        rowKey="job_id"
        size="small"
        pagination={false}
        loading={services.isLoading}
        dataSource={services.data?.services ?? []}
        onRow={(service) => ({ "data-service": service.type }) as React.HTMLAttributes<HTMLElement>}
        columns={[
          { title: t("jobs.type"), render: (_, s) => (
            <Tooltip title={s.does}><span>{typeName(s.type)}</span></Tooltip>
          ) },
          { title: t("jobs.serviceHealth"), render: (_, s) => (
            <>
              <Tag color={s.running ? "success" : "error"} data-testid="service-health">
                {s.running ? t("jobs.serviceRunning") : t("jobs.serviceStopped")}
              </Tag>
              {s.retrying && (
                <Tooltip title={s.retrying.last_error}>
                  <Tag color="orange">{t("jobs.retrying", { step: s.retrying.step, attempt: s.retrying.attempt })}</Tag>
                </Tooltip>
              )}
            </>
          ) },
          { title: t("jobs.serviceLastActivity"), render: (_, s) => formatTime(s.last_activity_at, language) },
          { title: t("jobs.serviceBacklog"), render: (_, s) => s.backlog ?? "—" },
          { title: t("jobs.serviceHandled"), dataIndex: "processed" },
          { title: t("jobs.serviceFailed"), dataIndex: "failed" },
          { title: t("jobs.lastError"), render: (_, s) => (
            <span className="wrap-anywhere">{s.last_error ? `${s.last_error.item}: ${s.last_error.error}` : "—"}</span>
          ) },
        ]}
      />
    </section>
  );
}
