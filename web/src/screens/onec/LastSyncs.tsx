// Each kind's last finished sync (when, the period, what it did, why it failed) and whether one runs now.
import { Alert, Card, Col, Descriptions, Empty, Row, Space, Tag, Typography } from "antd";
import type { UseQueryResult } from "@tanstack/react-query";
import type { SyncKind } from "@/api/onec";
import { TaskStatusTag } from "@/components/TaskProgress";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";

export function LastSyncs({ syncs }: { syncs: UseQueryResult<SyncKind[]> }) {
  const { t, language } = useI18n();
  const errorText = useErrorText();
  if (syncs.error) return <Alert type="error" showIcon title={errorText(syncs.error)} />;
  return (
    <Row gutter={16} data-testid="onec-last-syncs">
      {(syncs.data ?? []).map((kind) => {
        const last = kind.last;
        const c = last?.counts;
        return (
          <Col key={kind.kind} xs={24} lg={12}>
            <Card
              size="small"
              data-testid={`last-sync-${kind.kind}`}
              data-running={kind.running ? "true" : "false"}
              title={kind.kind === "bank-transactions" ? t("onec.last.bank") : t("onec.last.contractors")}
              extra={
                <Space size={4}>
                  {kind.running && <Tag color="processing" data-testid="sync-running">{t("onec.last.runningNow")}</Tag>}
                  {last && <TaskStatusTag status={last.status} />}
                  {last && <Typography.Text type="secondary">{formatTime(last.finished_at, language)}</Typography.Text>}
                </Space>
              }
            >
              {!last ? (
                <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("onec.last.never")} />
              ) : (
                <Descriptions size="small" column={1}>
                  {last.date_from && (
                    <Descriptions.Item label={t("onec.last.period")}>{`${last.date_from} – ${last.date_to ?? ""}`}</Descriptions.Item>
                  )}
                  {c && (
                    <Descriptions.Item label={t("onec.last.counts")}>
                      <span data-testid="last-sync-counts">
                        {t("onec.last.countsText", { loaded: c.loaded, created: c.created, updated: c.updated, skipped: c.skipped, deleted: c.deleted, failed: c.failed })}
                        {kind.kind === "bank-transactions" &&
                          ` · ${t("onec.last.classifiedText", { rule: c.classified_by_rule, llm: c.classified_by_llm })}`}
                      </span>
                    </Descriptions.Item>
                  )}
                  {last.error && (
                    <Descriptions.Item label={t("onec.last.error")}>
                      <Typography.Text type={last.status === "failed" ? "danger" : "secondary"} className="wrap-anywhere">{last.error}</Typography.Text>
                    </Descriptions.Item>
                  )}
                </Descriptions>
              )}
            </Card>
          </Col>
        );
      })}
    </Row>
  );
}
