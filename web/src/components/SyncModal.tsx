// The 1C front end's SyncModal, with its props (visible, onClose, onSyncComplete): tabs "Transactions" (a period,
// auto-classification) and "Contractors"; a started sync is followed in TaskProgress, and the Jobs screen keeps
// watching it across reloads. Starting a sync while one of its kind runs joins that one (the API answers its task).
import { Alert, App as AntApp, Button, Checkbox, DatePicker, Form, Modal, Space, Tabs, Typography } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useState } from "react";
import { startAsyncBankTransactionsSync, startAsyncContractorsSync, type AsyncSyncResponse, type TaskInfo } from "@/api/tasks";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import { useJobsLive } from "@/jobsLive";
import TaskProgress from "./TaskProgress";

export interface SyncModalProps {
  visible: boolean;
  onClose: () => void;
  onSyncComplete?: (task: TaskInfo) => void;
}

type Kind = "transactions" | "contractors";
type Period = [Dayjs, Dayjs];

/** Where a new sync's period starts: the first of last month, to today. */
export function defaultPeriod(): Period {
  return [dayjs().subtract(1, "month").startOf("month"), dayjs().startOf("day")];
}

export default function SyncModal({ visible, onClose, onSyncComplete }: SyncModalProps) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const { watch } = useJobsLive();
  const [kind, setKind] = useState<Kind>("transactions");
  const [period, setPeriod] = useState<Period | null>(defaultPeriod);
  const [autoClassify, setAutoClassify] = useState(true);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [started, setStarted] = useState<{ kind: Kind; response: AsyncSyncResponse } | null>(null);
  const [progressOpen, setProgressOpen] = useState(false);

  const begin = async () => {
    setError(null);
    if (kind === "transactions" && !period) {
      setError(t("onec.sync.periodRequired"));
      return;
    }
    setStarting(true);
    try {
      const response =
        kind === "transactions" && period
          ? await startAsyncBankTransactionsSync({
              date_from: period[0].format("YYYY-MM-DD"),
              date_to: period[1].format("YYYY-MM-DD"),
              auto_classify: autoClassify,
            })
          : await startAsyncContractorsSync();
      setStarted({ kind, response });
      setProgressOpen(true);
      watch(response.task_id);
      if (response.joined) message.info(t("onec.sync.joined"));
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setStarting(false);
    }
  };

  const joinedPeriod = started?.response.running_input as { date_from?: string; date_to?: string } | null | undefined;
  const title = started?.kind === "contractors" ? t("onec.sync.contractorsTitle") : t("onec.sync.transactionsTitle");

  return (
    <>
      <Modal
        open={visible}
        title={t("onec.sync.title")}
        onCancel={onClose}
        width={560}
        footer={
          <Space>
            {started && !progressOpen && (
              <Button onClick={() => setProgressOpen(true)} data-testid="sync-show-progress">{t("onec.sync.showProgress")}</Button>
            )}
            <Button onClick={onClose} data-testid="sync-close">{t("app.close")}</Button>
            <Button type="primary" loading={starting} onClick={begin} data-testid="sync-start">
              {t("onec.sync.start")}
            </Button>
          </Space>
        }
      >
        <div data-testid="sync-modal">
          <Tabs
            activeKey={kind}
            onChange={(key) => setKind(key as Kind)}
            items={[
              {
                key: "transactions",
                label: t("onec.sync.tabTransactions"),
                children: (
                  <Form layout="vertical">
                    <Form.Item label={t("onec.sync.period")} required>
                      <DatePicker.RangePicker
                        value={period}
                        onChange={(value) => setPeriod(value && value[0] && value[1] ? [value[0], value[1]] : null)}
                        format="YYYY-MM-DD"
                        allowClear={false}
                        style={{ width: "100%" }}
                        data-testid="sync-period"
                      />
                    </Form.Item>
                    <Form.Item extra={t("onec.sync.autoClassifyHelp")}>
                      <Checkbox checked={autoClassify} onChange={(e) => setAutoClassify(e.target.checked)} data-testid="sync-auto-classify">
                        {t("onec.sync.autoClassify")}
                      </Checkbox>
                    </Form.Item>
                  </Form>
                ),
              },
              {
                key: "contractors",
                label: t("onec.sync.tabContractors"),
                children: <Typography.Paragraph>{t("onec.sync.contractorsHelp")}</Typography.Paragraph>,
              },
            ]}
          />
          {error && <Alert type="error" showIcon title={<span className="pre-line">{error}</span>} data-testid="sync-error" />}
          {started?.response.joined && (
            <Alert type="info" showIcon data-testid="sync-joined" title={t("onec.sync.joined")}
              description={[
                joinedPeriod?.date_from ? t("onec.sync.joinedPeriod", { from: joinedPeriod.date_from, to: joinedPeriod.date_to ?? "" }) : "",
                started.response.running_since ? t("onec.sync.joinedSince", { time: formatTime(started.response.running_since, language) }) : "",
              ].filter(Boolean).join(" ")} />
          )}
        </div>
      </Modal>
      {started && (
        <TaskProgress
          taskId={started.response.task_id}
          title={title}
          visible={progressOpen}
          onClose={() => setProgressOpen(false)}
          onComplete={(task) => onSyncComplete?.(task)}
          useWebSocket
        />
      )}
    </>
  );
}

export { SyncModal };
