"""Prometheus metrics from the ledger (``toolbox metrics``; the textfile collector's file).

Every value is read from the ledger when the metrics are asked for (a collector, not
counters kept in a process: each toolbox run is a process of its own). Dry runs do not count.

    toolbox_last_success_timestamp_seconds{task}   end of the last real success (unix time)
    toolbox_last_run_timestamp_seconds{task}       start of the last real run
    toolbox_last_run_status{task,status}           1 for the status of the last real run
    toolbox_last_run_duration_seconds{task}
    toolbox_last_run_rows{task,table}              rows written per table by the last run
    toolbox_last_run_warnings{task}
    toolbox_runs_total{task,status}                real runs in the ledger, by status
    toolbox_table_age_seconds{task}                since the last success (absent: never)
    toolbox_table_max_age_seconds{task}            the freshness limit (absent: none)
    toolbox_stale{task}                            1 when older than the limit
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from toolbox_cli import ledger
from toolbox_cli.ledger import Run
from toolbox_cli.monitoring.freshness import Freshness


def _unix(moment: datetime | None) -> float | None:
    return None if moment is None else moment.replace(tzinfo=UTC).timestamp()


class LedgerCollector(Collector):
    """The metrics of ``tasks`` from ledger facts read once, in the constructor."""

    def __init__(self, tasks: Sequence[str], last: Mapping[str, Run],
                 successes: Mapping[str, Run], counts: Mapping[tuple[str, str], int],
                 ages: Mapping[str, Freshness]) -> None:
        self.tasks, self.last, self.successes = list(tasks), last, successes
        self.counts, self.ages = counts, ages

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily("toolbox_last_success_timestamp_seconds",
                                    "End of the task's last real successful run (unix time).",
                                    labels=["task"])
        started = GaugeMetricFamily("toolbox_last_run_timestamp_seconds",
                                    "Start of the task's last real run (unix time).",
                                    labels=["task"])
        status = GaugeMetricFamily("toolbox_last_run_status",
                                   "1 for the status of the task's last real run.",
                                   labels=["task", "status"])
        duration = GaugeMetricFamily("toolbox_last_run_duration_seconds",
                                     "Duration of the task's last real run.", labels=["task"])
        rows = GaugeMetricFamily("toolbox_last_run_rows",
                                 "Rows written per table by the task's last real run.",
                                 labels=["task", "table"])
        warnings = GaugeMetricFamily("toolbox_last_run_warnings",
                                     "Warnings of the task's last real run.", labels=["task"])
        runs = CounterMetricFamily("toolbox_runs", "Real runs in the ledger, by status.",
                                   labels=["task", "status"])
        age = GaugeMetricFamily("toolbox_table_age_seconds",
                                "Seconds since the task's last real success.", labels=["task"])
        max_age = GaugeMetricFamily("toolbox_table_max_age_seconds",
                                    "Age after which the task's tables are stale.",
                                    labels=["task"])
        stale = GaugeMetricFamily("toolbox_stale", "1 when the task's tables are stale.",
                                  labels=["task"])
        for task in self.tasks:
            ok = self.successes.get(task)
            if ok is not None and (when := _unix(ok.finished_at or ok.started_at)) is not None:
                success.add_metric([task], when)
            run = self.last.get(task)
            if run is not None:
                started.add_metric([task], _unix(run.started_at) or 0.0)
                for state in ledger.STATES:
                    status.add_metric([task, state], 1.0 if run.status == state else 0.0)
                if run.duration_s is not None:
                    duration.add_metric([task], run.duration_s)
                for table, count in sorted(run.rows_written.items()):
                    rows.add_metric([task, table], count)
                warnings.add_metric([task], run.warnings_count)
            for state in ledger.STATES:
                runs.add_metric([task, state], self.counts.get((task, state), 0))
            fresh = self.ages.get(task)
            if fresh is not None:
                if fresh.age is not None:
                    age.add_metric([task], fresh.age.total_seconds())
                if fresh.max_age is not None:
                    max_age.add_metric([task], fresh.max_age.total_seconds())
                stale.add_metric([task], 1.0 if fresh.stale else 0.0)
        yield from (success, started, status, duration, rows, warnings, runs, age, max_age,
                    stale)


def registry_for(collector: LedgerCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode("utf-8")


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    """Atomically (a temporary file renamed over it), as node_exporter's collector needs."""
    write_to_textfile(str(path), registry)
