"""Task tracker: Telegram messages and their authors, the knowledge extracted from them (topics and
atoms), the agents and LLM providers that do the extracting, and the records of the long jobs (ingestion,
analysis runs and their proposals, classification experiments).

Names and fields are those the tracker's clients already know. Messages are keyed by Telegram's (chat id, message id),
so a message saved twice (a webhook delivery Telegram repeats, an ingestion over the same history) is one row. The
webhook's inbox (`telegram_update`) is keyed by Telegram's `update_id` for the same reason.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt, utcnow

# The embedding columns' dimension: an HNSW index needs one fixed size. A provider whose model gives another size
# is asked for this one (OpenAI's `dimensions`) or refused; `LLMProvider.embedding_dimension` says what it gives.
EMBEDDING_DIMENSION = 1536


class NoiseClass(StrEnum):
    noise = "noise"  # importance_score < 0.3
    weak_signal = "weak_signal"  # 0.3 <= score < 0.7
    signal = "signal"  # score >= 0.7


class MessageSource(StrEnum):
    webhook = "webhook"  # POST /webhook/telegram
    ingestion = "ingestion"  # a chat's history imported by a MessageIngestionJob


class AtomType(StrEnum):
    problem = "problem"
    solution = "solution"
    decision = "decision"
    question = "question"
    insight = "insight"
    pattern = "pattern"
    requirement = "requirement"


class AgentRole(StrEnum):
    """What an agent config is for; one config per role is active at a time."""

    knowledge_extractor = "knowledge_extractor"
    proposal_generator = "proposal_generator"  # analysis runs
    topic_classifier = "topic_classifier"  # classification experiments


class ProviderKind(StrEnum):
    openai = "openai"
    ollama = "ollama"  # speaks the OpenAI-compatible API at its /v1


class JobRecordStatus(StrEnum):
    """The status of a job's row (MessageIngestionJob, AnalysisRun, ClassificationExperiment), as the tracker's
    clients know it."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class ProposalStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


def _vector() -> Any:
    return Vector(EMBEDDING_DIMENSION)


def _hnsw(name: str) -> Index:
    # Cosine distance: what semantic search over these embeddings ranks by.
    return Index(
        name,
        "embedding",
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )


class TelegramUpdate(Base):
    """The webhook's inbox: every accepted update, stored before its workflow starts, so an update that arrives
    while Temporal is down waits here and a repeated delivery is one row. `saved_at` is set when its message is
    saved; the reconcile sweep starts workflows for rows still without it."""

    __tablename__ = "telegram_update"
    __table_args__ = (Index("ix_telegram_update_unsaved", "received_at", postgresql_where=text("saved_at IS NULL")),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    saved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the update could not be saved (it does not parse, a value the books cannot hold): it left the inbox
    # at `saved_at` with no message, set aside rather than retried with its batch for ever.
    error: Mapped[str | None] = mapped_column(Text)


class UserProfile(CreatedAt, Base):
    """A Telegram user as the tracker knows them, linked to a Longrun user once someone connects the two."""

    __tablename__ = "user_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    last_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(64))
    language_code: Mapped[str | None] = mapped_column(String(16))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    # The avatar, cached: Telegram's file id of the photo and where the worker stored its bytes. `avatar_checked_at`
    # is set even when the user has no photo, so a profile is asked about once, not on every message.
    avatar_file_id: Mapped[str | None] = mapped_column(String(256))
    avatar_path: Mapped[str | None] = mapped_column(String(1000))
    avatar_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Topic(CreatedAt, Base):
    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Extraction reuses a topic of the same name instead of making a second one.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Message(CreatedAt, Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("telegram_chat_id", "telegram_message_id"),
        # The extraction trigger and claim: a chat's messages not yet through extraction, by time.
        Index(
            "ix_message_unextracted",
            "telegram_chat_id",
            "sent_at",
            postgresql_where=text("topic_id IS NULL AND extracted_at IS NULL AND extraction_claim IS NULL"),
        ),
        Index("ix_message_unscored", "id", postgresql_where=text("importance_score IS NULL")),
        _hnsw("ix_message_embedding"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int] = mapped_column(BigInteger)
    user_profile_id: Mapped[int | None] = mapped_column(ForeignKey("user_profile.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16), default=MessageSource.webhook.value)
    # Scoring: 0.0-1.0, its class, and the factors it came from (content, author, freshness, topic).
    importance_score: Mapped[float | None] = mapped_column(Float)
    noise_class: Mapped[str | None] = mapped_column(String(16))
    noise_factors: Mapped[dict | None] = mapped_column(JSONB)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topic.id", ondelete="SET NULL"), index=True)
    # Extraction takes each message at most once: a claim (the extracting run and batch) set in the statement that
    # picks the batch, and `extracted_at` once its topics and atoms are written (set also when the LLM gave the
    # message no topic, so it is not offered again).
    extraction_claim: Mapped[str | None] = mapped_column(String(200), index=True)
    extraction_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    embedding: Mapped[list[float] | None] = mapped_column(_vector())
    embedding_provider_id: Mapped[int | None] = mapped_column(ForeignKey("llm_provider.id", ondelete="SET NULL"))
    # The latest edit applied (Telegram's `edit_date`, and its update's id for two edits within one second): an
    # edit that is not newer changes nothing, whatever order the updates arrive in.
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edit_update_id: Mapped[int | None] = mapped_column(BigInteger)


class Atom(CreatedAt, Base):
    """A unit of knowledge (a problem, a decision...) extracted from messages."""

    __tablename__ = "atom"
    __table_args__ = (_hnsw("ix_atom_embedding"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topic.id", ondelete="SET NULL"), index=True)
    type: Mapped[str] = mapped_column(String(32), default=AtomType.insight.value)
    title: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float | None] = mapped_column(Float)
    # The extraction claim it came from: a retried write finds its own atoms instead of adding them again.
    extraction_claim: Mapped[str | None] = mapped_column(String(200), index=True)
    embedding: Mapped[list[float] | None] = mapped_column(_vector())
    embedding_provider_id: Mapped[int | None] = mapped_column(ForeignKey("llm_provider.id", ondelete="SET NULL"))


class AtomMessage(Base):
    """Which messages an atom came from."""

    __tablename__ = "atom_message"

    atom_id: Mapped[int] = mapped_column(ForeignKey("atom.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), primary_key=True, index=True)


class LLMProvider(CreatedAt, Base):
    """An OpenAI-compatible endpoint and the models used there. No key is stored: `api_key_env` names the
    environment variable the workers read it from."""

    __tablename__ = "llm_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=ProviderKind.openai.value)
    base_url: Mapped[str] = mapped_column(String(1000))
    api_key_env: Mapped[str | None] = mapped_column(String(100))
    chat_model: Mapped[str] = mapped_column(String(200))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dimension: Mapped[int] = mapped_column(Integer, default=EMBEDDING_DIMENSION)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AgentConfig(CreatedAt, Base):
    __tablename__ = "agent_config"
    __table_args__ = (
        # One active config per role: "the active knowledge_extractor" is never ambiguous.
        Index("uq_agent_config_active_role", "role", unique=True, postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("llm_provider.id", ondelete="SET NULL"))
    # Empty: the provider's (or the settings') chat model.
    model: Mapped[str] = mapped_column(String(200), default="")
    system_prompt: Mapped[str] = mapped_column(Text)
    temperature: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class JobRecord:
    """The row of a long job, as the tracker kept one before Longrun: its workflow, who started it, its status and
    when it ran."""

    workflow_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=JobRecordStatus.pending.value)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MessageIngestionJob(JobRecord, CreatedAt, Base):
    """A chat's history imported through Telegram: its progress and outcome."""

    __tablename__ = "message_ingestion_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat: Mapped[str] = mapped_column(String(200))
    limit: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    messages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    messages_saved: Mapped[int] = mapped_column(Integer, default=0)
    messages_skipped: Mapped[int] = mapped_column(Integer, default=0)  # duplicates
    errors_count: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)


class AnalysisRun(JobRecord, CreatedAt, Base):
    __tablename__ = "analysis_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_config_id: Mapped[int | None] = mapped_column(ForeignKey("agent_config.id", ondelete="SET NULL"))
    time_window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    time_window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    use_rag: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_size: Mapped[int] = mapped_column(Integer, default=50)
    messages_total: Mapped[int] = mapped_column(Integer, default=0)
    messages_after_filter: Mapped[int] = mapped_column(Integer, default=0)
    batches_total: Mapped[int] = mapped_column(Integer, default=0)
    batches_completed: Mapped[int] = mapped_column(Integer, default=0)
    proposals_total: Mapped[int] = mapped_column(Integer, default=0)
    # [{"batch": n, "error": "..."}, ...]: what went wrong, kept with the run.
    error_log: Mapped[list | None] = mapped_column(JSONB)


class TaskProposal(CreatedAt, Base):
    """A task the LLM proposes from a batch of messages, with its confidence."""

    __tablename__ = "task_proposal"
    # A batch's proposals are written once however often its step is retried.
    __table_args__ = (UniqueConstraint("analysis_run_id", "batch_index", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"), index=True)
    batch_index: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    source_message_ids: Mapped[list] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(16), default=ProposalStatus.pending.value)


class ClassificationExperiment(JobRecord, CreatedAt, Base):
    """Messages with known topics classified again by an agent: how often it agrees, and where it does not."""

    __tablename__ = "classification_experiment"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_config_id: Mapped[int | None] = mapped_column(ForeignKey("agent_config.id", ondelete="SET NULL"))
    message_count: Mapped[int] = mapped_column(Integer, default=100)
    # Only this chat's messages (null: every chat's): an experiment on one team's conversations.
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    classified: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    accuracy: Mapped[float | None] = mapped_column(Float)
    # {"actual topic": {"predicted topic": count}}
    confusion_matrix: Mapped[dict | None] = mapped_column(JSONB)
    error_message: Mapped[str | None] = mapped_column(Text)
