"""Record schedule installs (never-fired slots) and the notifications sent (once each).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "toolbox_schedule_installs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("task", sa.String(60), nullable=False),
        sa.Column("slot", sa.String(10), nullable=False),
        sa.Column("expr", sa.String(60), nullable=False),
        sa.Column("installed_at", sa.DateTime, nullable=False),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "toolbox_notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event", sa.String(190), nullable=False, unique=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("task", sa.String(60), nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("toolbox_notifications")
    op.drop_table("toolbox_schedule_installs")
