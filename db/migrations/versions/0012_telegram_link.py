"""a Longrun user's linked Telegram account, its one-time link codes, the bot's outbox and job notices' progress

Revision ID: 0012_telegram_link
Revises: 0011_news_source_last_run
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_telegram_link"
down_revision = "0011_news_source_last_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
    op.add_column("users", sa.Column("telegram_language", sa.String(length=16), nullable=True))
    op.add_column("users", sa.Column("telegram_linked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint(op.f("uq_users_telegram_user_id"), "users", ["telegram_user_id"])
    op.create_table(
        "telegram_link_code",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_telegram_link_code_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_telegram_link_code")),
    )
    op.create_index(op.f("ix_telegram_link_code_user_id"), "telegram_link_code", ["user_id"], unique=False)
    op.create_table(
        "telegram_notice",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_notice")),
    )
    op.create_index(op.f("ix_telegram_notice_chat_id"), "telegram_notice", ["chat_id"], unique=False)
    op.create_index(op.f("ix_telegram_notice_due_at"), "telegram_notice", ["due_at"], unique=False)
    op.create_table(
        "job_notice",
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("last_processed", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "run_id", name=op.f("pk_job_notice")),
    )


def downgrade() -> None:
    op.drop_table("job_notice")
    op.drop_index(op.f("ix_telegram_notice_due_at"), table_name="telegram_notice")
    op.drop_index(op.f("ix_telegram_notice_chat_id"), table_name="telegram_notice")
    op.drop_table("telegram_notice")
    op.drop_index(op.f("ix_telegram_link_code_user_id"), table_name="telegram_link_code")
    op.drop_table("telegram_link_code")
    op.drop_constraint(op.f("uq_users_telegram_user_id"), "users", type_="unique")
    op.drop_column("users", "telegram_linked_at")
    op.drop_column("users", "telegram_language")
    op.drop_column("users", "telegram_user_id")
