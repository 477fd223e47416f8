"""Alembic environment of the ledger: always run from code (storage/schema.py), on the
connection it is handed, never from an alembic.ini."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=context.config.attributes.get("version_table", "toolbox_schema_version"),
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
