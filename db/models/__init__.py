"""All models, imported here so Alembic and the app see one metadata."""

from db.models.crossposting import (
    CrosspostingLink,
    MaxChannel,
    MessageLog,
    MessageStatus,
    SourceKind,
    TelegramChannel,
)
from db.models.jobs import JobRecord
from db.models.news import NewsPost, NewsSource
from db.models.onec import BankTransaction, ClassificationRule, Contractor, SyncPage
from db.models.rate_limits import RateLimit
from db.models.sign_in import AuthSession, LoginFailure
from db.models.telegram_notices import JobNotice, TelegramLinkCode, TelegramNotice
from db.models.tracker import (
    AgentConfig,
    AnalysisRun,
    Atom,
    AtomMessage,
    ClassificationExperiment,
    LLMProvider,
    Message,
    MessageIngestionJob,
    TaskProposal,
    TelegramUpdate,
    Topic,
    UserProfile,
)
from db.models.users import Role, User
from db.models.webbuddy import Project, Query, QueryLog, QueryStatus

__all__ = [
    "AgentConfig",
    "AuthSession",
    "LoginFailure",
    "AnalysisRun",
    "Atom",
    "AtomMessage",
    "ClassificationExperiment",
    "LLMProvider",
    "Message",
    "MessageIngestionJob",
    "TaskProposal",
    "TelegramUpdate",
    "Topic",
    "UserProfile",
    "BankTransaction",
    "ClassificationRule",
    "Contractor",
    "SyncPage",
    "CrosspostingLink",
    "MaxChannel",
    "MessageLog",
    "MessageStatus",
    "SourceKind",
    "TelegramChannel",
    "JobRecord",
    "NewsPost",
    "NewsSource",
    "Project",
    "Query",
    "QueryLog",
    "QueryStatus",
    "RateLimit",
    "Role",
    "JobNotice",
    "TelegramLinkCode",
    "TelegramNotice",
    "User",
]
