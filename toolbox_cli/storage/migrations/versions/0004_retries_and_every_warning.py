"""A retried run points to the run it retries; the warnings column holds all of them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.add_column(sa.Column("retry_of", sa.Integer))
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        # TEXT holds 64 KB; every distinct warning of a run may need more.
        op.alter_column("toolbox_runs", "warnings", type_=mysql.MEDIUMTEXT(),
                        existing_type=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("toolbox_runs") as batch:
        batch.drop_column("retry_of")
