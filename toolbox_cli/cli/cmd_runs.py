"""``toolbox logs RUN_ID`` and ``toolbox retry RUN_ID``: a run's log, and a run again."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from toolbox_cli import ledger
from toolbox_cli.cli.common import fail, handle_errors, out, run_spec_command, settings_from_cli
from toolbox_cli.cli.layout import wrap_plain
from toolbox_cli.cli.options import JsonOpt, WaitOpt
from toolbox_cli.monitoring.runlog import NO_LOG
from toolbox_cli.registry import get_task
from toolbox_cli.storage.engine import engines_for

app = typer.Typer(rich_markup_mode=None)

RunIdArg = Annotated[int, typer.Argument(help="The run's id (toolbox status lists them).",
                                         metavar="RUN_ID", show_default=False)]


def _the_run(run_id: int) -> ledger.Run:
    with handle_errors():
        settings = settings_from_cli()
        with engines_for(settings) as engines:
            run = ledger.get_run(engines.datamart, run_id)
    if run is None:
        fail(f"no run with id {run_id}; `toolbox status` lists recent runs")
    return run


@app.command("logs")
def logs(
    run_id: RunIdArg,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Keep printing while the run is running.")] = False,
) -> None:
    """Print the log of a run (manual runs and cron runs alike).

    Example: toolbox logs 1842 --follow
    """
    run = _the_run(run_id)
    if not run.log_path:
        why = next((w for w in run.warnings if w.startswith(NO_LOG)), None)
        fail(f"run {run_id} ({run.task}) has no log: " + (
            why[len(NO_LOG) + 2:] if why else
            "it was started by a toolbox that did not keep logs of manual runs"))
    path = Path(run.log_path)
    if not path.exists():
        where = "" if run.host == ledger.hostname() else f" on host {run.host}"
        fail(f"the log of run {run_id} ({path}{where}) is not here: logs are kept "
             "TOOLBOX_LOG_RETENTION_DAYS days on the host that ran them")
    with path.open("rb") as fh:
        _write(fh.read())
        if follow:
            try:
                _follow(fh, run_id)
            except KeyboardInterrupt:
                return
    _write(b"", final=True)


_partial = [""]  # on a terminal: the end of the log read so far that is not a whole line


def _write(data: bytes, *, final: bool = False) -> None:
    """Print log bytes. On a terminal, a line wider than it is wrapped at word boundaries,
    its continuation indented (the terminal itself would cut ``MontoP`` | ``ago``); a pipe
    or a file gets the log byte for byte."""
    text = data.decode("utf-8", errors="replace")
    if sys.stdout.isatty():
        text = _partial[0] + text
        if final:
            whole, _partial[0] = text, ""
        else:
            head, newline, _partial[0] = text.rpartition("\n")
            whole = head + newline
        width = shutil.get_terminal_size().columns
        text = "".join("\n".join(_fold(line, width)) + "\n" for line in whole.splitlines())
    sys.stdout.write(text)
    sys.stdout.flush()


def _fold(line: str, width: int) -> list[str]:
    """``line`` in lines that fit ``width``: the first at full width, the rest indented."""
    first, *rest = wrap_plain(line, width)
    if not rest:
        return [first]
    return [first, *("    " + piece for piece in wrap_plain(" ".join(rest), width - 4))]


def _follow(fh: BinaryIO, run_id: int) -> None:
    """Print what the log gains until the run is no longer running."""
    with handle_errors():
        settings = settings_from_cli()
        with engines_for(settings) as engines:
            last_check = 0.0
            while True:
                data = fh.read()
                if data:
                    _write(data)
                    continue
                if time.monotonic() - last_check >= 1.0:
                    last_check = time.monotonic()
                    run = ledger.get_run(engines.datamart, run_id)
                    if run is None or run.status != ledger.RUNNING:
                        _write(fh.read())
                        return
                time.sleep(0.3)


@app.command("retry")
def retry(run_id: RunIdArg, wait: WaitOpt = False, json_output: JsonOpt = False) -> None:
    """Run a task again with the parameters of an earlier run.

    The new run is recorded as a retry of the old one (toolbox status shows it). The dates
    are the stored ones: a retry of yesterday's run computes yesterday's report.

    Example: toolbox retry 1842
    """
    run = _the_run(run_id)
    try:
        spec = get_task(run.task)
    except KeyError:
        fail(f"run {run_id} is a {run.task} run, which toolbox retry cannot repeat; "
             "start it again the way it was started")
    known = {f.name for f in dataclasses.fields(spec.params)}
    ignored = sorted(set(run.params) - known)
    with handle_errors():
        params = spec.parse({k: v for k, v in run.params.items() if k in known})
    shown = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(params).items()
                      if v not in (None, False))
    if not json_output:
        out.print(f"retrying run {run_id} ({spec.name}{': ' + shown if shown else ''})"
                  + (f"; stored parameters no longer taken: {', '.join(ignored)}" if ignored
                     else ""), markup=False)
    run_spec_command(spec, params, wait=wait, json_output=json_output, retry_of=run_id)
