"""`POST /api/v1/scoring/unscored`: ScoreUnscoredMessages (every message without a score, scored) on demand; its
schedule runs it too."""

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.deps import Editors, JobsDep, SettingsDep
from api.jobs import JobStarted
from workflows.tracker_inbox import ScoreUnscoredInput, scoring_job

router = APIRouter(prefix="/api/v1", tags=["tracker"])


class ScoreUnscoredRequest(BaseModel):
    batch: int | None = Field(default=None, ge=1, le=5000, description="messages per batch; default from settings")


@router.post("/scoring/unscored", status_code=status.HTTP_202_ACCEPTED)
async def score_unscored(
    who: Editors, jobs: JobsDep, settings: SettingsDep, body: ScoreUnscoredRequest | None = None
) -> JobStarted:
    """Score every message that has no score yet, in batches; `message_scored` and `batch_scored` tell clients."""
    batch = (body and body.batch) or settings.tracker_scoring_batch
    return await jobs.launch(scoring_job(ScoreUnscoredInput(batch=batch), who.username))
