"""The run ledger's tables (datamart database): the one long-lived schema of the toolbox.

A change here needs a migration in ``storage/migrations/versions`` (and ``LEDGER_HEAD`` in
``storage/schema.py``): only these tables keep rows across versions of the toolbox.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text, false
from sqlalchemy.dialects import mysql

from toolbox_cli.storage.tables.metadata import datamart_metadata

# MySQL's TEXT holds 64 KB; the warnings of a run may need more.
LedgerText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

runs = Table(
    "toolbox_runs",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(60), nullable=False),
    Column("status", String(12), nullable=False),  # running success failed skipped crashed
    Column("trigger", String(10), nullable=False),  # manual cron
    Column("slot", String(60)),  # cron slot that fired the run, e.g. "07:00"
    Column("params", Text),  # JSON
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),  # UTC, naive
    Column("finished_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("duration_s", Float),
    Column("rows_written", Text),  # JSON {table: rows}
    Column("warnings_count", Integer, nullable=False, default=0),
    Column("warnings", LedgerText),  # JSON list: every distinct warning ("… (×N)")
    Column("error_type", String(100)),
    Column("error_message", Text),
    Column("version", String(20), nullable=False),
    Column("log_path", Text),
    # A dry run computes and counts but writes nothing: it never stands for a refresh.
    Column("dry_run", Boolean, nullable=False, default=False, server_default=false()),
    Column("tables", Text),  # JSON list: the tables the run locks (what it writes)
    Column("retry_of", Integer),  # `toolbox retry`: the run this one re-runs
    Column("digests", Text),  # JSON {table: sha256 of its content} (demo knows its rows)
    # JSON {source: UTC time}: the sources fetched in the run (operaciones: the webservice).
    Column("sources", Text),
    Index("ix_toolbox_runs_task_started", "task", "started_at"),
    Index("ix_toolbox_runs_status", "status"),
)

# What `toolbox schedule install` wrote, per host: a slot installed but never fired since
# then is a problem for `status --check` (cron not running, a broken entry).
schedule_installs = Table(
    "toolbox_schedule_installs",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host", String(255), nullable=False),
    Column("target", String(255), nullable=False),  # "crontab" or the cron.d file's path
    Column("task", String(60), nullable=False),
    Column("slot", String(10), nullable=False),  # Lima HH:MM
    Column("expr", String(60), nullable=False),  # the slot's cron expression, Lima time
    Column("installed_at", DateTime, nullable=False),  # UTC, naive
)

# Notifications sent, one row per event: the unique key makes "notify once" a single
# insert that only one process can win (a crash or a missed slot is seen by every reader).
notifications = Table(
    "toolbox_notifications",
    datamart_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(190), nullable=False, unique=True),
    Column("kind", String(30), nullable=False),  # failed crashed missed recovered
    Column("task", String(60), nullable=False),
    Column("run_id", Integer),
    Column("sent_at", DateTime, nullable=False),
    Column("delivered", Boolean, nullable=False),
)

LEDGER_TABLES = (runs, schedule_installs, notifications)

