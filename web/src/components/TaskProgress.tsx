// The 1C front end's TaskProgress, with its props (taskId, title, visible, onClose, onComplete, useWebSocket): one
// task's progress bar, status (only the five the 1C code knows), phase, message, cancel while it runs, its error or
// its result. Updates come over the task's socket; while the socket is down (or not wanted) the task is polled.
import { Alert, App as AntApp, Button, Descriptions, Modal, Popconfirm, Progress, Space, Tag, Typography } from "antd";
import { useCallback, useEffect, useRef, useState } from "react";
import { cancelTask, FINISHED, getTaskStatus, TaskWebSocket, type TaskInfo, type TaskStatus } from "@/api/tasks";
import { useErrorText } from "@/errors";
import { formatTime } from "@/format";
import { useI18n } from "@/i18n";
import type { MessageKey } from "@/i18n/en";

const POLL_MS = 2000;
// A message that only says the phase (shown in the reader's words above it); any other (retrying, paused) is shown.
const PHASE_MESSAGE = /^(loading .*|classifying): \d+\/\d+$/;

const COLORS: Record<TaskStatus, string> = {
  pending: "default",
  running: "processing",
  completed: "success",
  failed: "error",
  cancelled: "default",
};

// The result's counts a person reads, in this order (others stay in the raw result).
const RESULT_COUNTS: { key: string; label: MessageKey }[] = [
  { key: "loaded", label: "onec.count.loaded" },
  { key: "created", label: "onec.count.created" },
  { key: "updated", label: "onec.count.updated" },
  { key: "skipped", label: "onec.count.skipped" },
  { key: "deleted", label: "onec.count.deleted" },
  { key: "failed", label: "onec.count.failed" },
  { key: "classified_by_rule", label: "onec.count.byRule" },
  { key: "classified_by_llm", label: "onec.count.byLlm" },
  { key: "contractors_fetched", label: "onec.count.contractorsFetched" },
  { key: "documents_without_contractor", label: "onec.count.withoutContractor" },
];

export interface TaskProgressProps {
  taskId: string;
  title?: string;
  visible: boolean;
  onClose?: () => void;
  onComplete?: (task: TaskInfo) => void;
  useWebSocket?: boolean;
}

export function TaskStatusTag({ status }: { status: TaskStatus }) {
  const { t } = useI18n();
  return (
    <Tag color={COLORS[status]} data-testid="task-status" data-status={status}>
      {t(`status.${status}`)}
    </Tag>
  );
}

/** The phase a task is in, in the reader's words ("Classification: 1200 of 4000"). */
export function usePhaseText(): (task: TaskInfo) => string | null {
  const { t } = useI18n();
  return useCallback(
    (task: TaskInfo) => {
      if (!task.phase || FINISHED.has(task.status)) return null;
      const key: MessageKey | null =
        task.phase === "loading" ? "onec.phase.loading" : task.phase === "classifying" ? "onec.phase.classifying" : null;
      if (!key) return task.phase;
      return t(key, { processed: task.phase_processed ?? 0, total: task.phase_total ?? 0 });
    },
    [t],
  );
}

export default function TaskProgress({ taskId, title, visible, onClose, onComplete, useWebSocket = true }: TaskProgressProps) {
  const { t, language } = useI18n();
  const { message } = AntApp.useApp();
  const errorText = useErrorText();
  const phaseText = usePhaseText();
  const [task, setTask] = useState<TaskInfo | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [socketDown, setSocketDown] = useState(!useWebSocket);
  const completedFor = useRef<string | null>(null);
  const onCompleteRef = useRef(onComplete);
  onCompleteRef.current = onComplete;

  const accept = useCallback((next: TaskInfo) => {
    setLoadError(null);
    setTask((before) => {
      // A late poll must not take a finished task back to running.
      if (before && before.task_id === next.task_id && FINISHED.has(before.status) && !FINISHED.has(next.status)) return before;
      return next;
    });
  }, []);

  useEffect(() => {
    setTask(null);
    setLoadError(null);
    setSocketDown(!useWebSocket);
    completedFor.current = null;
  }, [taskId, useWebSocket]);

  // Followed while mounted, shown or not (so onComplete comes even while hidden). The task once at the start; the
  // socket then says what changes.
  useEffect(() => {
    getTaskStatus(taskId).then(accept, (error) => setLoadError(errorText(error)));
  }, [taskId, accept, errorText]);

  const finished = task !== null && FINISHED.has(task.status);

  useEffect(() => {
    if (!useWebSocket || finished) return;
    const socket = new TaskWebSocket(
      taskId,
      (next) => {
        setSocketDown(false);
        accept(next);
      },
      () => setSocketDown(true),
    );
    socket.connect();
    return () => socket.disconnect();
  }, [taskId, useWebSocket, finished, accept]);

  // Polling: without a socket, or while it is down.
  useEffect(() => {
    if (finished || !socketDown) return;
    const timer = setInterval(() => {
      getTaskStatus(taskId).then(accept, (error) => setLoadError(errorText(error)));
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [taskId, finished, socketDown, accept, errorText]);

  useEffect(() => {
    if (task?.status === "completed" && completedFor.current !== task.task_id) {
      completedFor.current = task.task_id;
      onCompleteRef.current?.(task);
    }
  }, [task]);

  const cancel = () =>
    cancelTask(taskId).then(
      (next) => {
        accept(next);
        message.info(t("onec.task.cancelAsked"));
      },
      (error) => message.error(errorText(error)),
    );

  const percent = task ? Math.min(100, Math.floor(task.progress)) : 0;
  const barStatus = !task ? "normal" : task.status === "failed" ? "exception" : task.status === "completed" ? "success" : FINISHED.has(task.status) ? "normal" : "active";
  const phase = task ? phaseText(task) : null;
  const result = task?.status === "completed" ? task.result : null;
  const counts = result ? RESULT_COUNTS.filter(({ key }) => typeof result[key] === "number") : [];

  return (
    <Modal
      open={visible}
      title={<Space>{title ?? t("onec.task.title")}{task && <TaskStatusTag status={task.status} />}</Space>}
      onCancel={onClose}
      mask={{ closable: false }}
      width={620}
      footer={
        <Space>
          {task && !finished && (
            <Popconfirm title={t("onec.task.cancelConfirm")} okText={t("app.yes")} cancelText={t("app.no")} onConfirm={cancel}>
              <Button danger data-testid="task-cancel">{t("onec.task.cancel")}</Button>
            </Popconfirm>
          )}
          <Button type={finished ? "primary" : "default"} onClick={onClose} data-testid="task-close">
            {finished ? t("app.close") : t("onec.task.hide")}
          </Button>
        </Space>
      }
    >
      <div data-testid="task-progress" data-task-id={taskId} data-status={task?.status ?? ""}>
        {loadError && <Alert type="error" showIcon title={loadError} />}
        {!task && !loadError && <Typography.Text type="secondary">{t("app.loading")}</Typography.Text>}
        {task && (
          <Space orientation="vertical" style={{ width: "100%" }}>
            <Progress percent={percent} status={barStatus} data-testid="task-percent" data-percent={task.progress} />
            {phase && (
              <Typography.Text strong data-testid="task-phase" data-phase={task.phase ?? ""}>
                {phase}
              </Typography.Text>
            )}
            <Descriptions size="small" column={1} bordered>
              <Descriptions.Item label={t("onec.task.processed")}>
                <span data-testid="task-counts">{t("onec.task.counts", { processed: task.processed, total: task.total })}</span>
              </Descriptions.Item>
              {task.message && !FINISHED.has(task.status) && !(phase && PHASE_MESSAGE.test(task.message)) && (
                <Descriptions.Item label={t("onec.task.message")}>
                  <span className="wrap-anywhere" data-testid="task-message">{task.message}</span>
                </Descriptions.Item>
              )}
              <Descriptions.Item label={t("onec.task.started")}>{formatTime(task.started_at, language)}</Descriptions.Item>
              {task.completed_at && (
                <Descriptions.Item label={t("onec.task.finished")}>{formatTime(task.completed_at, language)}</Descriptions.Item>
              )}
            </Descriptions>
            {socketDown && useWebSocket && !finished && (
              <Typography.Text type="secondary" data-testid="task-polling">{t("onec.task.polling")}</Typography.Text>
            )}
            {task.status === "failed" && (
              <Alert type="error" showIcon title={t("onec.task.failed")}
                description={<span className="wrap-anywhere" data-testid="task-error">{task.error}</span>} />
            )}
            {task.status === "cancelled" && <Alert type="warning" showIcon title={t("onec.task.wasCancelled")} description={task.message} />}
            {counts.length > 0 && result && (
              <Descriptions size="small" column={2} title={t("onec.task.result")} data-testid="task-result">
                {counts.map(({ key, label }) => (
                  <Descriptions.Item key={key} label={t(label)}>{String(result[key])}</Descriptions.Item>
                ))}
              </Descriptions>
            )}
          </Space>
        )}
      </div>
    </Modal>
  );
}

export { TaskProgress };
