"""The task tracker's per-update workflow (`TrackerUpdate`) the webhook chain began with: save one update's message,
score it, trigger its chat's extraction, fetch the author's avatar.

Updates are taken by the inbox drainer (workflows/tracker_inbox.py) now; `TrackerUpdate` is no longer started and stays
registered so runs started before the drainer can finish.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from runtime.queues import QueueKind
from workflows.base import DB_STEP, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.tracker import (
        SaveUpdateInput,
        ScoreInput,
        TrackerActivities,
        TriggerInput,
    )
    from activities.tracker_avatars import AvatarActivities, AvatarInput, AvatarOutcome
    from db.tracker_messages import SavedMessage

UPDATE_JOB = "tracker_update"
# Whose jobs webhook updates are: Telegram's, not a person's.
WEBHOOK_OWNER = "telegram"

# The avatar is a nicety: a Bot API that stays away for a few minutes leaves the profile without one (it is
# tried again with the author's next message), never the message unsaved or unscored.
AVATAR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60), maximum_attempts=6
)


def update_job_id(update_id: int) -> str:
    return f"tracker-update-{update_id}"


class TrackerUpdateInput(BaseModel):
    update_id: int


class TrackerUpdateResult(JobResult):
    message_id: int | None = None
    chat_id: int | None = None
    # The message has its score (written by this job, or found written by an earlier run of it).
    scored: bool = False
    importance_score: float | None = None
    noise_class: str | None = None
    extraction_triggered: bool = False
    avatar: str | None = None


@workflow.defn(name="TrackerUpdate")
class TrackerUpdateWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): the webhook chain.
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: TrackerUpdateInput) -> TrackerUpdateResult:
        result = TrackerUpdateResult(status=self._progress.status, progress=self._progress)
        self.begin(total=3, message=f"update {inp.update_id}")
        self.set_current("saving")
        saved: SavedMessage = await workflow.execute_local_activity_method(
            TrackerActivities.save_update, SaveUpdateInput(update_id=inp.update_id), **DB_STEP
        )
        self.advance(succeeded=1)
        if saved.message_id is None or saved.chat_id is None:  # a kept message always has its chat
            self.advance(skipped=2)
            return self._close(result, f"update {inp.update_id} carries no message to keep")
        result.message_id, result.chat_id = saved.message_id, saved.chat_id
        avatar = None
        if saved.needs_avatar and saved.profile_id is not None:  # needs_avatar comes only with its profile
            avatar = asyncio.ensure_future(self._avatar(saved.profile_id))

        self.set_current("scoring")
        outcome = await workflow.execute_local_activity_method(
            TrackerActivities.score_messages,
            ScoreInput(message_ids=[saved.message_id], chat_ids=[saved.chat_id]),
            **DB_STEP,
        )
        self.advance(succeeded=1)
        if outcome.scored:
            scored = outcome.scored[0]
            result.scored = True
            result.importance_score, result.noise_class = scored.importance_score, scored.noise_class
        for chat_id in outcome.ready_chats:
            await workflow.execute_local_activity_method(
                TrackerActivities.trigger_extraction, TriggerInput(chat_id=chat_id), **DB_STEP
            )
            result.extraction_triggered = True

        if avatar is None:
            self.advance(skipped=1)
        else:
            self.set_current("avatar")
            result.avatar = await avatar
        return self._close(result, f"message {saved.message_id} saved" + (", scored" if result.scored else ""))

    async def _avatar(self, profile_id: int) -> str | None:
        try:
            fetched: AvatarOutcome = await workflow.execute_activity_method(
                AvatarActivities.fetch_avatar,
                AvatarInput(profile_id=profile_id),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=AVATAR_RETRY,
            )
        except Exception as exc:  # the activity's last failure: recorded, the message stays saved and scored
            self.record_error(f"avatar of profile {profile_id}", root_cause(exc))
            self.advance(failed=1)
            return None
        self.advance(succeeded=1)
        return fetched.status

    def _close(self, result: TrackerUpdateResult, message: str) -> TrackerUpdateResult:
        result.status = self.finish(message)
        result.progress = self._progress
        return result
