"""The run ledger: one row per run in ``toolbox_runs``.

Facts are stored (times in UTC, counts, errors); states such as late and missed are
derived when read. Final-state updates are compare-and-swap on ``status = 'running'`` so a
run that was already declared crashed is never silently resurrected, and vice versa. The
package re-exports everything, so callers keep writing ``ledger.start_run``,
``ledger.runs_for_monitoring``, ...: ``lifecycle`` owns a run's life (start, heartbeat,
finish, crash) and the ``Run`` record, ``queries`` what monitoring, metrics, alerts and tasks
read of the runs, ``notes`` the notifications and crontab installs noted beside them.
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
    live_local_holder,
    reap_crashed,
    recent_runs,
    record_skipped,
    record_unstarted,
    set_log_path,
    start_run,
)
from toolbox_cli.ledger.notes import (
    InstalledSlot,
    claim_notification,
    installed_slots,
    mark_delivered,
    record_install,
)
from toolbox_cli.ledger.queries import (
    History,
    cron_runs_since,
    first_cron_runs,
    last_cron_run,
    last_run_per_task,
    last_success,
    last_success_per_task,
    previous_final_run,
    recent_durations,
    run_counts,
    runs_for_monitoring,
    unresolved_failures,
    writers_since,
)

__all__ = [
    "CRASHED", "ERROR_MESSAGE_MAX", "FAILED", "FINAL_STATES", "RUNNING", "SKIPPED", "STATES",
    "SUCCESS", "History", "InstalledSlot", "Run", "RunStatus", "claim_notification",
    "cron_runs_since", "finish_run", "first_cron_runs", "get_run", "heartbeat", "holder_of", "set_log_path",
    "hostname", "installed_slots", "known_tasks", "live_local_holder", "last_cron_run", "last_run_per_task",
    "last_success", "last_success_per_task", "mark_delivered", "previous_final_run",
    "reap_crashed", "recent_durations", "recent_runs", "record_install", "record_skipped", "record_unstarted",
    "run_counts", "runs_for_monitoring", "start_run", "unresolved_failures",
    "writers_since",
]
