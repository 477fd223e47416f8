"""``toolbox import`` as a ledger run: ``import_job`` checks the arguments, ``ImportJob.spec``
is the run ``import:KIND`` the runner runs, ``ImportJob.finish`` reads its outcome.

Not a registered task (it is run by hand, never scheduled nor monitored); the records reach
their table through ``pipelines/records.py``, as a configured sheet's do. On a terminal its
table's progress line says what it is doing: reading the file or the sheet (the try it is
at when a sheet is retried, ``pipelines/sheets.read_sheet``), then validating and writing
the rows read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolbox_cli.errors import InputError
from toolbox_cli.imports.apply import MERGE, ImportResult, import_mode
from toolbox_cli.imports.csvfile import check_encoding, read_csv
from toolbox_cli.imports.kinds import HOJAS, Kind, get_kind
from toolbox_cli.imports.rows import ImportRejected
from toolbox_cli.imports.sheets import is_url, sheets_client
from toolbox_cli.params import RunFlags
from toolbox_cli.pipelines.records import import_into
from toolbox_cli.pipelines.sheets import read_sheet
from toolbox_cli.settings import display_url, scrub, url_secrets
from toolbox_cli.tasks.base import TaskSpec

if TYPE_CHECKING:
    from toolbox_cli.context import TaskContext


@dataclass
class ImportOutcome:
    outcome: Any  # runner.RunOutcome
    result: ImportResult | None
    exit_code: int
    errors: list[str] = field(default_factory=list)  # every bad line found (first 20)


@dataclass(frozen=True)
class ImportParams(RunFlags):
    file: str = ""  # the file's absolute path, or the sheet's URL as display_url shows it:
    # scheme and host only (the path and query are secret, TaskSpec.secrets)
    hoja: str | None = None
    mode: str = MERGE
    encoding: str | None = None  # --encoding (Python's codec name); None = UTF-8 or cp1252


@dataclass
class ImportJob:
    """An import as a ledger task ``import:KIND``: run ``spec`` with ``params`` through the
    runner, then ``finish`` it. A rejected file is recorded on the ledger as a failed run
    whose error is the first ``FILE:LINE: column: reason`` (``URL#row N: …`` for a sheet);
    the command still exits 2 (bad input), not 1."""

    kind: Kind
    source: str  # a path, or an http(s) URL (kept out of the ledger: it may hold a key)
    label: str
    params: ImportParams
    result: ImportResult | None = None
    error: InputError | None = None

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec(f"import:{self.kind.name}", f"import {self.kind.description}",
                        self._run, params=ImportParams, tables=(self.kind.table.name,),
                        reads=(self.kind.table.name,), monitored=False,
                        secrets=tuple(url_secrets(self.source)) if is_url(self.source) else ())

    def _run(self, ctx: TaskContext, params: ImportParams) -> None:
        line = self.kind.table.name

        def shown(phase: str) -> None:
            ctx.progress.phase(line, phase)

        try:
            if is_url(self.source):
                records = read_sheet(self.source, sheets_client(ctx.settings), self.label,
                                     self.label, shown, params.encoding)
            else:
                shown(f"reading {self.label}")
                records = read_csv(Path(self.source), self.label, params.encoding)
                shown(f"{len(records.rows):,} rows read from {self.label}; validating and "
                      "writing")
            self.result = import_into(ctx, self.kind.name, records, hoja=params.hoja,
                                      mode=params.mode)
        except InputError as exc:
            self.error = exc
            raise
        finally:
            ctx.progress.done(line)

    def finish(self, outcome: Any) -> ImportOutcome:
        """The import's outcome from the run's (``runner.RunOutcome``)."""
        exit_code, errors = outcome.exit_code, []
        if self.error is not None and outcome.status == "failed":
            exit_code = self.error.exit_code
            secrets = list(self.spec.secrets)
            errors = [scrub(e, secrets) or "" for e in
                      (self.error.errors if isinstance(self.error, ImportRejected)
                       else [str(self.error)])]
        return ImportOutcome(outcome, self.result, exit_code, errors)


def import_job(kind_name: str, source: str | Path, *, hoja: str | None = None,
               dry_run: bool = False, replace: bool = False, overwrite: bool = False,
               allow_shrink: bool = False, encoding: str | None = None) -> ImportJob:
    """The import of ``source`` (a file, or an http(s) URL of a published sheet) as
    ``kind_name``; bad arguments raise ``InputError``.

    ``encoding``: the file's codec, any name Python knows (stored on the run as Python's
    name for it, ``Windows-1252`` → ``cp1252``); None = UTF-8, or Windows-1252 detected."""
    kind = get_kind(kind_name)
    mode = import_mode(kind, replace=replace, overwrite=overwrite)
    if encoding is not None:
        encoding = check_encoding(encoding)
    if hoja is not None:
        hoja = hoja.strip().upper()
        if kind.name != "fuera-sistema":
            raise InputError("--hoja only applies to: toolbox import fuera-sistema SOURCE")
        if hoja not in HOJAS:
            raise InputError(f"--hoja must be PEN or USD, not {hoja!r}")
    source = str(source)
    if is_url(source):
        label = display_url(source)
        params = ImportParams(dry_run, allow_shrink, label, hoja, mode, encoding)
        return ImportJob(kind, source, label, params)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{source}: no such file" if not path.exists()
                         else f"{source}: is not a regular file")
    params = ImportParams(dry_run, allow_shrink, str(path.resolve()), hoja, mode, encoding)
    return ImportJob(kind, source, source, params)
