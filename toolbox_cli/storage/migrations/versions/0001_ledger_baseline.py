"""The ledger as it was before migrations existed.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "toolbox_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(60), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("slot", sa.String(60)),
        sa.Column("params", sa.Text),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("heartbeat_at", sa.DateTime),
        sa.Column("duration_s", sa.Float),
        sa.Column("rows_written", sa.Text),
        sa.Column("warnings_count", sa.Integer, nullable=False),
        sa.Column("warnings", sa.Text),
        sa.Column("error_type", sa.String(100)),
        sa.Column("error_message", sa.Text),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("log_path", sa.Text),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_toolbox_runs_task_started", "toolbox_runs", ["task", "started_at"])
    op.create_index("ix_toolbox_runs_status", "toolbox_runs", ["status"])


def downgrade() -> None:
    op.drop_table("toolbox_runs")
