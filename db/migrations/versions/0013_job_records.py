"""job records: every job's type, owner, input, status, counts, result and timings, kept past Temporal's retention

Revision ID: 0013_job_records
Revises: 0012_telegram_link
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_job_records"
down_revision = "0012_telegram_link"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_records",
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column("first_run_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("job_type", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=150), nullable=False),
        sa.Column("input_summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("input", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_records")),
    )
    op.create_index("ix_job_records_started_at", "job_records", ["started_at"], unique=False)
    op.create_index("ix_job_records_owner_started_at", "job_records", ["owner", "started_at"], unique=False)
    op.create_index("ix_job_records_job_type_started_at", "job_records", ["job_type", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_records_job_type_started_at", table_name="job_records")
    op.drop_index("ix_job_records_owner_started_at", table_name="job_records")
    op.drop_index("ix_job_records_started_at", table_name="job_records")
    op.drop_table("job_records")
