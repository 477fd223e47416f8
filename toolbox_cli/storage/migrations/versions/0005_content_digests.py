"""A run may record a content digest of the tables it wrote (demo: to know its own rows).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.add_column(sa.Column("digests", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.drop_column("digests")
