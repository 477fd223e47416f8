"""toolbox compare: the toolbox's tables against another database's (``jobs.compare``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from toolbox_cli.cli import state
from toolbox_cli.cli.common import fail, handle_errors, out, print_json, settings_from_cli
from toolbox_cli.cli.options import JsonOpt
from toolbox_cli.compute.compare import TableDiff
from toolbox_cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, NoDatabase
from toolbox_cli.settings import render_url
from toolbox_cli.words import count

app = typer.Typer(rich_markup_mode=None)


@app.command("compare")
def compare(
    against: Annotated[str | None, typer.Option(
        "--against", metavar="URL",
        help="The other database (the legacy's datamart), e.g. "
             "mysql+pymysql://user@host:3306/datamart; default TOOLBOX_COMPARE_URL.")] = None,
    table: Annotated[list[str] | None, typer.Option(
        "--table", "-t", metavar="TABLE",
        help="A table to compare (repeatable; the legacy's names too: CXCPagosFact). "
             "Default: every datamart table a task writes.")] = None,
    tolerance: Annotated[float, typer.Option(
        "--tolerance", min=0.0, metavar="AMOUNT",
        help="How far two amounts (money columns) may be apart and still be equal, "
             "e.g. 0.01. Other numbers are compared on their stored scale.")] = 0.0,
    examples: Annotated[int, typer.Option(
        "--examples", min=0, max=1000, metavar="N",
        help="Example rows shown per differing column and per side.")] = 5,
    json_output: JsonOpt = False,
) -> None:
    """Compare the toolbox's tables with the same tables in another database, by key.

    Per table: rows matched, only in the toolbox, only in the other database; per column
    the number of differing cells and a few examples. Exit 0 when every table is equal,
    1 when any differs or could not be compared, 2 on bad input.

    Example: toolbox compare --against mysql+pymysql://bi@legacy-db:3306/datamart --tolerance 0.01
    """
    from toolbox_cli.jobs.compare import compare_tables, resolve
    from toolbox_cli.registry import all_tasks, get_task
    from toolbox_cli.storage.engine import check_connection, engines_for, make_engine

    with handle_errors():
        settings = settings_from_cli()
        url = settings.compare_database_url(against)
        if url is None:
            fail("say which database to compare with: --against URL (or set "
                 "TOOLBOX_COMPARE_URL), e.g. --against mysql+pymysql://user@host:3306/datamart",
                 EXIT_USAGE)
        if url.password:
            state.secrets.append(str(url.password))
        tables = resolve(table or [], [t for task in all_tasks() for t in get_task(task).tables])
        if url == settings.datamart_url():
            fail(f"--against names the toolbox's own database ({render_url(url)}); give the "
                 "other one", EXIT_USAGE)
        try:
            other = make_engine(url)
        except NoDatabase:
            fail(f"--against: no SQLite file at {url.database}; give the path of the other "
                 "database", EXIT_USAGE)
        try:
            check_connection(other)
            with engines_for(settings) as engines:
                results = compare_tables(engines, other, tables, tolerance=tolerance,
                                         examples=examples)
        finally:
            other.dispose()
    differ = [r for r in results if not isinstance(r, TableDiff) or not r.equal]
    if json_output:
        print_json({"against": render_url(url), "tolerance": tolerance,
                    "equal": not differ, "tables": [_as_data(r) for r in results]})
    else:
        for result in results:
            _print(result, render_url(url))
        names = [r.table if isinstance(r, TableDiff) else r[0] for r in differ]
        if differ:
            out.print(f"[red]{len(differ)} of {count(len(results), 'table')} differ[/]: "
                      f"{', '.join(names)}")
        else:
            out.print(f"[green]{count(len(results), 'table')} equal[/] to {escape(render_url(url))}")
    raise typer.Exit(EXIT_FAILED if differ else EXIT_OK)


def _as_data(result: TableDiff | tuple[str, str]) -> dict[str, Any]:
    if isinstance(result, TableDiff):
        return result.as_dict()
    return {"table": result[0], "equal": False, "not_compared": result[1]}


def _value(value: object) -> str:
    return "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)


def _key(key: dict[str, Any]) -> str:
    return "/".join(_value(v) for v in key.values())


def _print(result: TableDiff | tuple[str, str], where: str) -> None:
    if not isinstance(result, TableDiff):
        out.print(f"[red]{result[0]}[/]: not compared: {escape(result[1])}")
        return
    r = result
    verdict = "[green]equal[/]" if r.equal else "[red]differs[/]"
    other = "" if r.right_table == r.table else f" (there {r.right_table})"
    out.print(f"[bold]{r.table}[/]{other}: {verdict}: {count(r.matched, 'row')} matched, "
              f"{r.only_left:,} only in the toolbox, {r.only_right:,} only in the other "
              "database")
    for note in r.notes:
        out.print(f"  [dim]{escape(note)}[/]")
    if r.repeated_keys:
        out.print("  [dim]some keys repeat: their rows are paired in the order of their "
                  "other columns[/]")
    for label, keys, total in (("only in the toolbox", r.only_left_examples, r.only_left),
                               ("only in the other database", r.only_right_examples,
                                r.only_right)):
        if keys:
            out.print(f"  {label}: {escape(', '.join(_key(k) for k in keys))}"
                      + (" …" if len(keys) < total else ""))
    for column in r.differing_columns:
        out.print(f"  [yellow]{column.name}[/]: {count(column.differing, 'differing cell')}")
        for example in column.examples:
            out.print(f"    {escape(_key(example['key']))}: toolbox {escape(_value(example['left']))}"
                      f", other {escape(_value(example['right']))}")
