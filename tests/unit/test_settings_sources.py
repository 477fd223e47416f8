"""A setting in the environment replaces the env file's value whole, as the README says of
every setting; a JSON map is no exception (pydantic-settings merges maps key by key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolbox_cli.settings import load_settings


def _env_file(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / "toolbox.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def test_the_environments_sheets_replace_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    file = _env_file(tmp_path, TOOLBOX_SHEETS=json.dumps(
        {"sectores": "https://a.example/exec", "referidos": "https://b.example/exec"}))
    monkeypatch.setenv("TOOLBOX_SHEETS", json.dumps({"saldos": "https://c.example/exec"}))
    assert set(load_settings(file, warn_unknown=False).sheets) == {"saldos"}


def test_the_files_map_holds_when_the_environment_is_silent(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLBOX_SCHEDULE_SLOTS", raising=False)
    file = _env_file(tmp_path, TOOLBOX_SCHEDULE_SLOTS=json.dumps({"kpi": ["0 7 * * *"]}),
                     TOOLBOX_CHUNK_SIZE="123")
    monkeypatch.setenv("TOOLBOX_CHUNK_SIZE", "456")
    settings = load_settings(file, warn_unknown=False)
    assert settings.schedule_slots == {"kpi": ["0 7 * * *"]}
    assert settings.chunk_size == 456  # a plain value: the environment wins, as before
