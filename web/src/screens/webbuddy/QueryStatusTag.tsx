// A query's status, and while its job runs the stage it is at (and a retry, when the LLM is failing for now).
import { Space, Tag, Tooltip } from "antd";
import { isClosed } from "@/api/jobs";
import { isOpenQuery, queryJobId, type WebBuddyQuery } from "@/api/webbuddy";
import { useI18n } from "@/i18n";
import type { MessageKey } from "@/i18n/en";
import { useSnapshot } from "@/jobsLive";

const COLORS = { queued: "default", in_progress: "processing", done: "success", failed: "error" } as const;
const STAGES: Record<string, MessageKey> = {
  claiming: "webbuddy.stage.claiming",
  answering: "webbuddy.stage.answering",
  finishing: "webbuddy.stage.finishing",
};

/** The message key of a job's stage (workflows/webbuddy.py STAGES), or null for one this page does not know. */
export function stageKey(stage: unknown): MessageKey | null {
  return typeof stage === "string" ? (STAGES[stage] ?? null) : null;
}

export function QueryStatusTag({ query }: { query: WebBuddyQuery }) {
  const { t } = useI18n();
  const snap = useSnapshot(isOpenQuery(query.status) ? queryJobId(query.id) : null);
  const running = snap && !isClosed(snap.status) ? snap : undefined;
  const stage = running && query.status === "in_progress" ? stageKey(running.details.stage) : null;
  return (
    <Space size={4} wrap>
      <Tag color={COLORS[query.status]} data-testid="query-status" data-status={query.status}>
        {t(`webbuddy.status.${query.status}`)}
      </Tag>
      {stage && <Tag bordered={false} data-testid="query-stage">{t(stage)}</Tag>}
      {running?.retrying && (
        <Tooltip title={running.retrying.last_error}>
          <Tag color="orange" data-testid="query-retrying">
            {t("jobs.retrying", { step: running.retrying.step, attempt: running.retrying.attempt })}
          </Tag>
        </Tooltip>
      )}
    </Space>
  );
}
