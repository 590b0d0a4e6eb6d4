import { Tag, Tooltip } from "antd";
import type { JobSnapshot, JobStatus } from "@/api/jobs";
import { useI18n } from "@/i18n";

const COLORS: Record<JobStatus, string> = {
  pending: "default",
  running: "processing",
  paused: "warning",
  cancelling: "warning",
  completed: "success",
  failed: "error",
  cancelled: "default",
};

/** A job's status; a running job whose step is failing and being retried says so, with the attempt and error. */
export function JobStatusTag({ status, retrying }: { status: JobStatus; retrying?: JobSnapshot["retrying"] }) {
  const { t } = useI18n();
  const tag = (
    <Tag color={COLORS[status]} data-testid="job-status" data-status={status}>
      {t(`status.${status}`)}
    </Tag>
  );
  if (!retrying || status === "completed" || status === "failed" || status === "cancelled") return tag;
  return (
    <>
      {tag}
      <Tooltip title={retrying.last_error}>
        <Tag color="orange" data-testid="job-retrying">
          {t("jobs.retrying", { step: retrying.step, attempt: retrying.attempt })}
        </Tag>
      </Tooltip>
    </>
  );
}
