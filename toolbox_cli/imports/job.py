"""An import as a ledger run: ``import_job`` checks the arguments, ``ImportJob.spec`` is
the task ``import:KIND`` the runner runs, ``ImportJob.finish`` reads its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolbox_cli.errors import InputError
from toolbox_cli.imports.apply import MERGE, ImportResult, apply_import, import_mode
from toolbox_cli.imports.csvfile import check_encoding
from toolbox_cli.imports.kinds import HOJAS, Kind, get_kind
from toolbox_cli.imports.parse import parse_file
from toolbox_cli.imports.rows import ImportRejected
from toolbox_cli.params import RunFlags
from toolbox_cli.tasks.base import TaskSpec


@dataclass
class ImportOutcome:
    outcome: Any  # runner.RunOutcome
    result: ImportResult | None
    exit_code: int
    errors: list[str] = field(default_factory=list)  # every bad line found (first 20)


@dataclass(frozen=True)
class ImportParams(RunFlags):
    file: str = ""
    hoja: str | None = None
    mode: str = MERGE
    encoding: str | None = None  # --encoding (Python's codec name); None = UTF-8 or cp1252


@dataclass
class ImportJob:
    """An import as a ledger task ``import:KIND``: run ``spec`` with ``params`` through the
    runner, then ``finish`` it. A rejected file is recorded on the ledger as a failed run
    whose error is the first ``FILE:LINE: column: reason``; the command still exits 2 (bad
    input), not 1."""

    kind: Kind
    path: Path
    label: str
    params: ImportParams
    result: ImportResult | None = None
    error: InputError | None = None

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec(f"import:{self.kind.name}", f"import {self.kind.description}",
                        self._run, params=ImportParams, tables=(self.kind.table.name,),
                        reads=(self.kind.table.name,), monitored=False)

    def _run(self, ctx: Any, params: ImportParams) -> None:
        table = self.kind.table.name
        try:
            parsed = parse_file(self.kind.name, self.path, hoja=params.hoja, label=self.label,
                                encoding=params.encoding)
        except InputError as exc:
            self.error = exc
            raise

        def check_shrink(live: int, new: int) -> None:
            ctx.check_shrink({table: live}, {table: new})

        result = apply_import(ctx.source, parsed, mode=params.mode, dry_run=ctx.dry_run,
                              chunk_size=ctx.settings.chunk_size, check_shrink=check_shrink)
        for warning in result.warnings:
            ctx.warn(warning)
        ctx.add_rows(table, result.written)
        self.result = result

    def finish(self, outcome: Any) -> ImportOutcome:
        """The import's outcome from the run's (``runner.RunOutcome``)."""
        exit_code, errors = outcome.exit_code, []
        if self.error is not None and outcome.status == "failed":
            exit_code = self.error.exit_code
            errors = (list(self.error.errors) if isinstance(self.error, ImportRejected)
                      else [str(self.error)])
        return ImportOutcome(outcome, self.result, exit_code, errors)


def import_job(kind_name: str, path: Path, *, hoja: str | None = None, dry_run: bool = False,
               replace: bool = False, overwrite: bool = False,
               allow_shrink: bool = False, encoding: str | None = None) -> ImportJob:
    """The import of ``path`` as ``kind_name``; bad arguments raise ``InputError``.

    ``encoding``: the file's codec, any name Python knows (stored on the run as Python's
    name for it, ``Windows-1252`` → ``cp1252``); None = UTF-8, or Windows-1252 detected."""
    kind = get_kind(kind_name)
    mode = import_mode(kind, replace=replace, overwrite=overwrite)
    if encoding is not None:
        encoding = check_encoding(encoding)
    if hoja is not None:
        hoja = hoja.strip().upper()
        if kind.name != "fuera-sistema":
            raise InputError("--hoja only applies to: toolbox import fuera-sistema FILE")
        if hoja not in HOJAS:
            raise InputError(f"--hoja must be PEN or USD, not {hoja!r}")
    label = str(path)
    if not path.is_file():
        raise InputError(f"{label}: no such file" if not path.exists()
                         else f"{label}: is not a regular file")
    params = ImportParams(dry_run, allow_shrink, str(path.resolve()), hoja, mode, encoding)
    return ImportJob(kind, path, label, params)
