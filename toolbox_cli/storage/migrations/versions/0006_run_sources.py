"""A run records where its sources came from: the operations webservice and when.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.add_column(sa.Column("sources", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.drop_column("sources")
