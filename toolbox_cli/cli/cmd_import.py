"""``toolbox import KIND SOURCE``: load a spreadsheet export or a published sheet into a
source table."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from toolbox_cli.cli.common import (
    err,
    fmt_duration,
    handle_errors,
    out,
    outcome_signals,
    print_json,
    shown_progress,
    start_run,
)
from toolbox_cli.cli.options import AllowShrinkOpt, DryRunOpt, JsonOpt, WaitOpt
from toolbox_cli.imports import KINDS
from toolbox_cli.jobs.imports import ImportOutcome, import_job
from toolbox_cli.words import count

app = typer.Typer(rich_markup_mode=None)


def _headers(name: str) -> str:
    if name == "fuera-sistema":
        return "the headers of reportes §2.4, as in examples/fuera_sistema_pen.csv"
    return ", ".join(f.header for f in KINDS[name].fields)


_KINDS_HELP = "\n\n".join(
    f"{name}: {kind.description}; headers: {_headers(name)}"
    for name, kind in KINDS.items()
)


@app.command(
    "import",
    help=(
        "Load a CSV export, or a published Google Sheet, into a source table, all or "
        "nothing.\n\n"
        "SOURCE is a file or an http(s) URL: an Apps Script web app answering JSON (one "
        "object per row keyed by the headers) or a sheet published as CSV; errors name "
        "the sheet row as URL#row N. "
        "The file is UTF-8 (a file that is Windows-1252, as Excel on Windows saves CSV, is "
        "read so and the report says it; --encoding for another), comma or semicolon "
        "separated. RUC columns must hold 11 digits (spaces and ':' aside); a RUC whose "
        "check digit fails is accepted and counted in a warning. "
        "Any bad row rejects the whole "
        "file with FILE:LINE: column: reason (exit 2) and the "
        "table keeps its previous content. Otherwise, in one transaction, the file is merged "
        "by the kind's key: new keys added, same keys replaced, the other stored rows kept "
        "(the report counts them). --replace replaces the whole table instead (refused when "
        "it would shrink the table a lot, unless --allow-shrink). fuera-sistema replaces its "
        "own sheet. tipo-cambio only adds missing dates unless --overwrite.\n\n"
        f"{_KINDS_HELP}\n\n"
        "Example: toolbox import sectores pagadores.csv --dry-run\n\n"
        "Example: toolbox import saldos "
        "'https://docs.google.com/spreadsheets/d/e/KEY/pub?output=csv'"
    ),
)
def import_command(
    kind: Annotated[str, typer.Argument(metavar="KIND", show_default=False,
                                        help=f"What the source holds: {', '.join(KINDS)}.")],
    source: Annotated[str, typer.Argument(
        metavar="SOURCE", help="The CSV file, or the sheet's http(s) URL.", show_default=False)],
    hoja: Annotated[
        str | None,
        typer.Option("--hoja", metavar="PEN|USD", help="fuera-sistema only: the sheet, PEN or USD "
                     "(default: the file's Moneda column when every row has the same)."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", metavar="NAME",
                     help="The file's encoding, any name Python knows (cp1252, latin-1, "
                     "utf-16, …). Default: UTF-8 with or without BOM, or Windows-1252 when "
                     "the file is that (noted in the report)."),
    ] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace the whole table with the file (default: merge by key).")
    ] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="tipo-cambio only: correct the stored rates of the file's dates.")
    ] = False,
    allow_shrink: AllowShrinkOpt = False,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = False,
    json_output: JsonOpt = False,
) -> None:
    # Not run_spec_command (the outcome is an import's, rendered below), but the same
    # progress display: a sheet can take many seconds to answer.
    with outcome_signals():
        with shown_progress(json_output=json_output) as progress, handle_errors():
            job = import_job(kind, source, hoja=hoja, dry_run=dry_run, replace=replace,
                             overwrite=overwrite, allow_shrink=allow_shrink, encoding=encoding)
            done = job.finish(start_run(job.spec, job.params, wait=wait, progress=progress))
        if json_output:
            print_json(_as_json(done))
        else:
            _render(done)
    raise typer.Exit(done.exit_code)


def _as_json(done: ImportOutcome) -> dict[str, object]:
    return {
        "run": done.outcome.as_dict(),
        "import": done.result.as_dict() if done.result else None,
        "exit_code": done.exit_code,
        "errors": done.errors,
    }


def _render(done: ImportOutcome) -> None:
    outcome, result = done.outcome, done.result
    run = f"run {outcome.run_id}" if outcome.run_id else "run"
    if result is None:
        err.print(f"[bold red]error:[/] {escape(outcome.error_message or outcome.status)}")
        for line in done.errors[1:]:
            err.print(f"  {escape(line)}")
        if outcome.status == "failed":
            err.print(f"{outcome.task}: rejected ({run}); the table was not changed")
        return
    where = result.table + (f" (sheet {result.hoja})" if result.hoja else "")
    parts = [f"{count(result.rows_read, 'row')} read"]
    if result.mode in ("replace", "sheet"):
        parts.append(f"{'would replace' if result.dry_run else 'replaced'} "
                     f"{count(result.replaced, 'previous row')} of {where} with {result.written:,}")
        if result.kept:
            parts.append(f"{count(result.kept, 'row')} of the other sheet kept")
    else:
        verb = "would add" if result.dry_run else "added"
        parts.append(f"{verb} {result.added:,}")
        if result.mode != "add":
            parts.append(f"{'would replace' if result.dry_run else 'replaced'} {result.replaced:,}")
        parts.append(f"kept {result.kept:,} in {where}")
    if result.unchanged:
        parts.append(f"{result.unchanged:,} already stored")
    if result.conflicts:
        parts.append(f"[yellow]{result.conflicts} differ from stored rates (kept; "
                     "--overwrite corrects them)[/]")
    if result.duplicates:
        parts.append(f"{result.duplicates} duplicates (last wins)")
    if result.skipped:
        parts.append(f"{result.skipped} skipped")
    out.print(f"[green]{outcome.task}[/] ({run}, {fmt_duration(outcome.duration_s)}"
              f"{', dry run' if result.dry_run else ''}): " + ", ".join(parts))
    if result.warnings:
        # Each warning was already logged on stderr as it was recorded on the run.
        out.print(f"[yellow]{count(len(result.warnings), 'warning')}[/] "
                  f"(toolbox status {outcome.run_id} lists them)")

