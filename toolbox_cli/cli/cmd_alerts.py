"""``toolbox notify --test`` and ``toolbox metrics``: the channels that tell a person."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from toolbox_cli import clock, ledger
from toolbox_cli.cli import state
from toolbox_cli.cli.common import fail, handle_errors, out, settings_from_cli
from toolbox_cli.clock import local_text
from toolbox_cli.errors import EXIT_FAILED
from toolbox_cli.monitoring import alerts, metrics, monitor
from toolbox_cli.monitoring.housekeeping import reap, watch
from toolbox_cli.registry import monitored_tasks
from toolbox_cli.storage.engine import engines_for
from toolbox_cli.words import count

app = typer.Typer(rich_markup_mode=None)


@app.command("notify")
def notify(
    test: Annotated[bool, typer.Option("--test", help="Send a test notification.")] = False,
) -> None:
    """Send a test notification to every URL of TOOLBOX_NOTIFY_URLS.

    The URLs are Apprise URLs.

    Exit 0 when it got through, 1 when it did not (the reason is on stderr), 2 when no URL
    is configured.

    Example: TOOLBOX_NOTIFY_URLS=json://hooks.internal/toolbox toolbox notify --test
    """
    with handle_errors():
        settings = settings_from_cli()
        if not test:
            fail("say --test to send a test notification; real ones come from the runs")
        urls = settings.notify_url_list()
        if not urls:
            fail("TOOLBOX_NOTIFY_URLS is not set; give one or more Apprise URLs, e.g. "
                 "mailtos://user:pass@smtp.example.com?to=datos@example.com")
        now = clock.utcnow()
        body = alerts.body_text("toolbox", "prueba de notificación: si lee esto, llegan los avisos",
                            local_text(now, settings.zone), None, "Nada.")
        ok = alerts.deliver(settings, "toolbox: prueba de notificación", body, failure=False)
    if not ok:
        fail(f"the test notification was not delivered to {count(len(urls), 'URL')}; "
             "rerun with --debug to see Apprise's reason", EXIT_FAILED)
    out.print(f"test notification sent to {count(len(urls), 'URL')}")


@app.command("metrics")
def metrics_command(
    textfile: Annotated[Path | None, typer.Option(
        "--textfile", help="Write to this file atomically (node_exporter's textfile "
        "collector, e.g. /var/lib/node_exporter/textfile/toolbox.prom) instead of stdout.")
    ] = None,
) -> None:
    """The Prometheus text exposition of every task, read from the ledger.

    Per task: last success time, last run status, duration, rows per table, warnings, runs
    by status, age of its tables and whether they are stale.

    Example: toolbox metrics --textfile /var/lib/node_exporter/textfile/toolbox.prom
    """
    with handle_errors():
        settings = settings_from_cli()
        now = clock.now()
        tasks = sorted(monitored_tasks())
        with engines_for(settings) as engines:
            reap(engines, settings)
            slots, _missed, _late = watch(engines, settings, now)
            collector = metrics.LedgerCollector(
                tasks, ledger.last_run_per_task(engines.datamart),
                ledger.last_success_per_task(engines.datamart),
                ledger.run_counts(engines.datamart),
                monitor.freshness_now(engines.datamart, tasks, slots, now,
                                      timedelta(minutes=settings.missed_grace_minutes),
                                      zone=settings.zone, overrides=settings.max_age_minutes))
        registry = metrics.registry_for(collector)
        if textfile is not None:
            try:
                metrics.write_textfile(textfile, registry)
            except OSError as exc:
                fail(f"cannot write {textfile}: {exc.strerror}; check the directory and "
                     "its permissions")
            return
    out.file.write(metrics.exposition(registry))
    out.file.flush()


@app.command("publish")
def publish_command(
    directory: Annotated[Path | None, typer.Argument(
        metavar="[DIR]", help="Where to write (default TOOLBOX_STATUS_DIR).")] = None,
) -> None:
    """Write the status files and page a frontend reads into DIR (a static web server's).

    tasks/available.json, tasks/scheduled.json and tasks/status/<run id>.json in the legacy
    API's shapes, ActualizarTablasReportesCronjob_status.json (the legacy's Redis key) and
    index.html; each file written atomically. The cron wrapper runs it after every run
    when TOOLBOX_STATUS_DIR is set.

    Example: toolbox publish /var/www/toolbox-status
    """
    from toolbox_cli.monitoring.publish import publish

    with handle_errors():
        settings = settings_from_cli()
        target = directory or settings.status_dir
        if target is None:
            fail("say where to publish: toolbox publish DIR (or set TOOLBOX_STATUS_DIR), "
                 "e.g. toolbox publish /var/www/toolbox-status")
        with engines_for(settings) as engines:
            try:
                written = publish(engines, settings, target, clock.now())
            except OSError as exc:
                fail(f"cannot write into {target}: {exc.strerror}; check the directory and "
                     "its permissions", EXIT_FAILED)
    if not state.quiet:
        out.print(f"published {count(len(written), 'file')} into {target.expanduser().resolve()}: "
                  f"{target / 'index.html'} and tasks/*.json")
