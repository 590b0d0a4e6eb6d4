"""What the migration's workflow and its activities say to each other: small, so history stays small.

Posts themselves never travel through workflow history: a page read stores them in `message_log` and
hands the workflow only their message ids; the publish step loads them from there.
"""

from datetime import datetime

from pydantic import BaseModel, Field


class MigrationScope(BaseModel):
    """Which messages of a link a job moves."""

    link_id: int
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False
    # retry-failed: only the messages whose log says `failed`, read again from the source.
    only_failed: bool = False


class Survey(BaseModel):
    total: int  # messages the job will look at (the channel's count, or the failed ones)
    channel: str
    destination: str


class ReadPage(BaseModel):
    scope: MigrationScope
    after_id: int


class PageRead(BaseModel):
    after_id: int  # the cursor for the next page
    done: bool
    messages: int  # Telegram messages this page covered
    # Messages now `pending` in the log, to publish (ascending; an album's members together).
    pending_ids: list[int] = Field(default_factory=list)
    # In a dry run nothing is written: how many messages a real run would publish.
    would_publish: int = 0
    already_migrated: int = 0
    outside_period: int = 0
    service: int = 0
    unsupported: int = 0  # logged `skipped` with the reason
    last_message_id: int | None = None

    @property
    def skipped(self) -> int:
        return self.already_migrated + self.outside_period + self.service + self.unsupported


class PublishPage(BaseModel):
    link_id: int
    message_ids: list[int]


class Tally(BaseModel):
    """Where a page's messages stand in the log."""

    success: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0


class Published(BaseModel):
    tally: Tally
    posts: int = 0  # MAX messages sent (an album is one, a long text several)
    media_files: int = 0
    media_bytes: int = 0
    seconds: float = 0.0  # the publish step's own time, for the current rate
