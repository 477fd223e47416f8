"""Dry runs are flagged; each run records the tables it locks and writes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.add_column(sa.Column("dry_run", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("tables", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.drop_column("tables")
        batch.drop_column("dry_run")
