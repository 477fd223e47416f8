"""The run ledger: one row per run in ``toolbox_runs``.

Facts are stored (times in UTC, counts, errors); states such as late and missed are
derived when read. Final-state updates are compare-and-swap on ``status = 'running'`` so a
run that was already declared crashed is never silently resurrected, and vice versa. The
package re-exports everything, so callers keep writing ``ledger.start_run``,
``ledger.runs_for_monitoring``, ...: ``lifecycle`` owns a run's life (start, heartbeat,
finish, crash) and the ``Run`` record, ``views`` what monitoring, metrics, alerts and tasks
read from the ledger (and the notifications and crontab installs they note beside it).
"""

from __future__ import annotations

from toolbox_cli.ledger.lifecycle import (
    CRASHED,
    ERROR_MESSAGE_MAX,
    FAILED,
    FINAL_STATES,
    RUNNING,
    SKIPPED,
    STATES,
    SUCCESS,
    Run,
    RunStatus,
    finish_run,
    get_run,
    heartbeat,
    holder_of,
    hostname,
    known_tasks,
    reap_crashed,
    recent_runs,
    record_skipped,
    set_log_path,
    start_run,
    utcnow,
)
from toolbox_cli.ledger.views import (
    History,
    InstalledSlot,
    claim_notification,
    cron_runs_since,
    first_cron_runs,
    installed_slots,
    last_cron_run,
    last_run_per_task,
    last_success,
    last_success_per_task,
    mark_delivered,
    previous_final_run,
    recent_durations,
    record_install,
    run_counts,
    runs_for_monitoring,
    unresolved_failures,
    writers_since,
)

__all__ = [
    "CRASHED", "ERROR_MESSAGE_MAX", "FAILED", "FINAL_STATES", "RUNNING", "SKIPPED", "STATES",
    "SUCCESS", "History", "InstalledSlot", "Run", "RunStatus", "claim_notification",
    "cron_runs_since", "finish_run", "first_cron_runs", "get_run", "heartbeat", "holder_of", "set_log_path",
    "hostname", "installed_slots", "known_tasks", "last_cron_run", "last_run_per_task",
    "last_success", "last_success_per_task", "mark_delivered", "previous_final_run",
    "reap_crashed", "recent_durations", "recent_runs", "record_install", "record_skipped",
    "run_counts", "runs_for_monitoring", "start_run", "unresolved_failures", "utcnow",
    "writers_since",
]
