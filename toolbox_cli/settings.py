"""Configuration from TOOLBOX_* environment variables and an optional env file."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from toolbox_cli.errors import ConfigError, closest

SUPPORTED_DRIVERS = ("sqlite", "mysql", "mariadb")
TIPO_CAMBIO_PROVIDERS = ("decolecta", "apis-net-pe")


class _Shadowed(PydanticBaseSettingsSource):
    """The env file's values, less those the environment sets: a variable in the environment
    replaces the file's value whole, JSON maps included (pydantic-settings would merge a
    ``TOOLBOX_SHEETS`` map of the environment into the file's, key by key)."""

    def __init__(self, settings_cls: type[BaseSettings], file: PydanticBaseSettingsSource,
                 environment: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.file, self.environment = file, environment

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        shadowed = set(self.environment())
        return {k: v for k, v in self.file().items() if k not in shadowed}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOOLBOX_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _Shadowed(settings_cls, dotenv_settings, env_settings),
                file_secret_settings)

    data_dir: Path = Field(default=Path("data"), description="where the SQLite default lives")
    database_url: str | None = Field(
        default=None, description="datamart + ledger database (default: SQLite in data_dir)"
    )
    database_password: SecretStr | None = Field(
        default=None, description="password for database_url, kept out of the URL"
    )
    source_url: str | None = Field(default=None, description="source database (default: same)")
    source_password: SecretStr | None = None
    timezone: str = "America/Lima"
    log_dir: Path | None = None
    tasa_fondeo_pen: float = Field(default=0.14, ge=0, le=1)
    tasa_fondeo_usd: float = Field(default=0.12, ge=0, le=1)
    stale_after_seconds: int = Field(default=300, ge=30)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    chunk_size: int = Field(default=5000, ge=1)
    tipo_cambio_provider: str = Field(
        default="decolecta", description="exchange-rate provider: decolecta or apis-net-pe",
    )
    tipo_cambio_token: SecretStr | None = Field(
        default=None, description="the decolecta key, sent as Authorization: Bearer (a secret)",
    )
    tipo_cambio_url: str | None = Field(
        default=None, description="a mirror of the provider (default: the provider's own URL); "
        "decolecta: the base URL, apis-net-pe: a template with {fecha}",
    )
    tipo_cambio_concurrency: int = Field(default=4, ge=1, le=10)
    tipo_cambio_pause_seconds: float = Field(default=0.2, ge=0)
    tipo_cambio_timeout_seconds: float = Field(default=30.0, gt=0)
    tipo_cambio_attempts: int = Field(default=3, ge=1, le=10)
    tipo_cambio_backoff_seconds: float = Field(default=2.0, ge=0)
    missed_grace_minutes: int = Field(default=15, ge=1)
    schedule_slots: dict[str, list[str]] = Field(
        default_factory=dict,
        description='extra or replaced slots per task, Lima cron expressions: {"kpi": ["30 7 * * *"]}',
    )
    log_retention_days: int = Field(default=30, ge=1)
    compare_url: str | None = Field(
        default=None, description="the database toolbox compare reads the other side from "
        "(the legacy's datamart; --against overrides it)",
    )
    compare_password: SecretStr | None = Field(
        default=None, description="password for compare_url, kept out of the URL",
    )
    legacy_views: bool = Field(
        default=True, description="db init keeps views under the legacy's CXC table names "
        "(CXCPagosFact, CXCDevFact, CXCAcumuladoDim; decision 24); false drops them",
    )
    # The guard before every swap (design: "a bad source is never published").
    max_shrink_percent: float = Field(
        default=20.0, ge=0, le=100,
        description="a new table with more than this many percent fewer rows than the live one "
        "fails the run",
    )
    max_shrink_percent_tables: dict[str, float] = Field(
        default_factory=dict,
        description='per-table overrides of max_shrink_percent: {"saldos": 50}',
    )
    # Decision 22: the control totals each datamart table declares.
    max_total_change_percent: float = Field(
        default=20.0, ge=0,
        description="a control total that moves this much against the live table, or "
        "changes sign, fails the run",
    )
    max_total_change_percent_tables: dict[str, float] = Field(
        default_factory=dict,
        description='per-table overrides of max_total_change_percent: {"saldos": 50}',
    )
    # Decision 21: a source column coerced this often is broken, not untidy.
    max_coerced_percent: float = Field(
        default=5.0, ge=0, le=100,
        description="a source column coerced (blank amount read as 0, ...) in more than "
        "this share of the rows read fails the run",
    )

    @field_validator("tipo_cambio_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        name = value.strip().lower()
        if name not in TIPO_CAMBIO_PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; use {' or '.join(TIPO_CAMBIO_PROVIDERS)}")
        return name

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (try America/Lima)") from exc
        return value

    # Being told when something is wrong (README "Being told when something is wrong").
    notify_urls: SecretStr | None = Field(
        default=None, description="Apprise URLs (space or comma separated) for notifications",
    )
    ping_url: SecretStr | None = Field(
        default=None, description="health-check ping URL template with {task}, e.g. "
        "https://hc-ping.com/KEY/{task}",
    )
    ping_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    max_age_minutes: dict[str, int] = Field(
        default_factory=dict,
        description='per task, minutes after its last success when its tables are stale '
        '(default: its longest gap between slots + the grace): {"kpi": 1500}',
    )
    status_dir: Path | None = Field(
        default=None, description="toolbox publish's directory: the cron wrapper publishes "
        "the status files and page there after every run",
    )
    metrics_textfile: Path | None = Field(
        default=None, description="node_exporter textfile the cron wrapper refreshes after each run",
    )
    # The analysts' Google Sheets (README "Live sources"); the URLs are secrets.
    sheets: dict[str, str] = Field(
        default_factory=dict,
        description='sheet → URL (Apps Script web app or published CSV): '
        '{"sectores": "https://script.google.com/macros/s/KEY/exec"}',
    )
    sheets_timeout_seconds: float = Field(default=30.0, gt=0)
    sheets_attempts: int = Field(default=3, ge=1, le=10)
    sheets_backoff_seconds: float = Field(default=2.0, ge=0)
    # The operations webservice (README "The operations webservice"): the legacy's source of
    # operations; its timeouts, tries and back-off are the legacy's (webservice.md).
    operaciones_url: str | None = Field(
        default=None, description="base URL of the operations webservice, e.g. "
        "https://ops.example.pe (its endpoints are under /webservice/)",
    )
    operaciones_user: str | None = Field(default=None, description="its user (token login)")
    operaciones_password: SecretStr | None = Field(
        default=None, description="its password (a secret: masked, scrubbed, never stored)",
    )
    operaciones_timeout_seconds: float = Field(
        default=120.0, gt=0, description="per call to the three CXC endpoints")
    operaciones_report_timeout_seconds: float = Field(
        default=60.0, gt=0, description="per call to the colocaciones report")
    operaciones_token_timeout_seconds: float = Field(
        default=30.0, gt=0, description="per call to the token endpoint")
    operaciones_attempts: int = Field(default=3, ge=1, le=10)
    operaciones_backoff_seconds: float = Field(default=2.0, ge=0)

    @field_validator("operaciones_url")
    @classmethod
    def _webservice_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host, e.g. https://ops.example.pe")
        return value.strip().rstrip("/")

    @field_validator("ping_url")
    @classmethod
    def _ping_template(cls, value: SecretStr | None) -> SecretStr | None:
        template = value.get_secret_value() if value is not None else ""
        if template and not template.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. https://hc-ping.com/KEY/{task}")
        if template and "{task}" not in template:
            raise ValueError("must name the task with {task} (each task has its own check), "
                             "e.g. https://hc-ping.com/KEY/{task}")
        return value

    @field_validator("max_age_minutes")
    @classmethod
    def _positive_ages(cls, value: dict[str, int]) -> dict[str, int]:
        for task, minutes in value.items():
            if minutes <= 0:
                raise ValueError(f"{task}: {minutes} is not a positive number of minutes")
        return value

    @field_validator("max_shrink_percent_tables")
    @classmethod
    def _percentages(cls, value: dict[str, float]) -> dict[str, float]:
        for table, percent in value.items():
            if not 0 <= percent <= 100:
                raise ValueError(f"{table}: {percent} is not a percentage between 0 and 100")
        return value

    @field_validator("max_total_change_percent_tables")
    @classmethod
    def _changes(cls, value: dict[str, float]) -> dict[str, float]:
        for table, percent in value.items():
            if percent < 0:
                raise ValueError(f"{table}: {percent} is not a percentage (0 or more)")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_log_dir(self) -> Path:
        return (self.log_dir or self.resolved_data_dir / "logs").expanduser().resolve()

    def datamart_url(self) -> URL:
        return _database_url(
            self.database_url, self.database_password, self.resolved_data_dir, "TOOLBOX_DATABASE_URL"
        )

    def source_database_url(self) -> URL:
        if self.source_url is None:
            return self.datamart_url()
        return _database_url(
            self.source_url,
            self.source_password or self.database_password,
            self.resolved_data_dir,
            "TOOLBOX_SOURCE_URL",
        )

    def compare_database_url(self, given: str | None = None) -> URL | None:
        """The other side of ``toolbox compare``: ``--against`` (``given``) or
        ``TOOLBOX_COMPARE_URL``, with ``TOOLBOX_COMPARE_PASSWORD`` when it has none."""
        raw = given or self.compare_url
        if raw is None:
            return None
        return _database_url(raw, self.compare_password, self.resolved_data_dir,
                             "--against" if given else "TOOLBOX_COMPARE_URL")

    def notify_url_list(self) -> list[str]:
        raw = self.notify_urls.get_secret_value() if self.notify_urls else ""
        return [u for u in re.split(r"[\s,]+", raw) if u]

    def masked(self) -> dict[str, object]:
        """The effective settings with every password hidden."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            elif name == "sheets":
                value = {sheet: display_url(url) for sheet, url in value.items()}
            elif name == "tipo_cambio_url" and value:
                value = display_url(value)
            elif name == "operaciones_url" and value:
                value = webservice_display(value)
            out[name] = value
        out["database_url"] = render_url(self.datamart_url())
        out["source_url"] = render_url(self.source_database_url())
        compare = self.compare_database_url()
        out["compare_url"] = render_url(compare) if compare is not None else None
        out["data_dir"] = str(self.resolved_data_dir)
        out["log_dir"] = str(self.resolved_log_dir)
        return out


def secrets_of(settings: Settings) -> list[str]:
    """Every secret that must never reach output, logs or the ledger."""
    found = []
    for database in (settings.datamart_url(), settings.source_database_url(),
                     settings.compare_database_url()):
        if database is not None and database.password:
            found.append(str(database.password))
    for secret in (settings.database_password, settings.source_password,
                   settings.compare_password, settings.ping_url,
                   settings.tipo_cambio_token, settings.operaciones_password):
        if secret is not None and secret.get_secret_value():
            found.append(secret.get_secret_value())
    # A notification URL holds tokens or passwords as a whole, its host included (Apprise's
    # tgram://TOKEN/CHAT); libraries rewrite it, so its parts are secrets too. A ping
    # template's key is in its fixed part, before {task}.
    for url in settings.notify_url_list():
        found += [url, *url_secrets(url), urlsplit(url).hostname or ""]
    for given in [*settings.sheets.values(), settings.tipo_cambio_url or ""]:
        if given:
            found += url_secrets(given)
    if settings.operaciones_url:
        parts = urlsplit(settings.operaciones_url)
        found += [parts.password or "", f"{parts.username}:{parts.password}"
                  if parts.password else ""]
    if settings.ping_url is not None and "{task}" in settings.ping_url.get_secret_value():
        found.append(settings.ping_url.get_secret_value().split("{task}", 1)[0])
    return sorted({f for f in found if f}, key=len, reverse=True)


# The fixed words of the URLs the toolbox reads (Apps Script web apps, published sheets,
# their export and query forms): the only parts of a path or query that may be shown. Every
# other segment and value is the user's (a deployment id, a sheet id, a key) and is secret,
# whatever its length.
PUBLIC_PATH_WORDS = frozenset({"macros", "s", "exec", "dev", "spreadsheets", "d", "e", "pub",
                               "pubhtml", "export", "edit", "gviz", "tq", "u", "0", "1"})
PUBLIC_QUERY_VALUES = frozenset({"csv", "tsv", "json", "html", "true", "false"})
# A secret shorter than this is matched only as a whole word of a text ("abc" in "abc-x"
# and "/abc/", not in "abcd"), so scrubbing it cannot mangle the words around it.
WHOLE_WORD_BELOW = 8


def display_url(url: str) -> str:
    """A URL as the toolbox shows and stores it: scheme and host only, ``scheme://host/…``
    (no user, no path segment, no query)."""
    parts = urlsplit(url.strip())
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{rest}"


def webservice_display(url: str) -> str:
    """The operations webservice's base URL as shown: its own path is the operator's choice
    and no secret, but a user and password written into it are hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{parts.username}:********@{parts.hostname}{port}").geturl()


def url_secrets(url: str) -> list[str]:
    """What of ``url`` must never be shown: the whole URL, its path and query as written,
    the user and password, and every path segment and query value that is not one of the
    fixed words of PUBLIC_PATH_WORDS and PUBLIC_QUERY_VALUES (a plain number, such as a
    sheet tab's gid, is no secret)."""
    text = url.strip()
    parts = urlsplit(text)
    found = [text, parts.path, parts.query, f"{parts.path}?{parts.query}",
             parts.username or "", parts.password or ""]
    found += [seg for seg in parts.path.split("/") if seg not in PUBLIC_PATH_WORDS]
    found += [value for _, value in parse_qsl(parts.query)
              if value.lower() not in PUBLIC_QUERY_VALUES and not value.isdigit()]
    return [f for f in dict.fromkeys(found) if f and f not in ("/", "?")]


def scrub(text: str | None, secrets: list[str]) -> str | None:
    """``text`` with every secret as ``********``: longest first, a short one only where it
    is a whole word."""
    if text is None:
        return None
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= WHOLE_WORD_BELOW:
            text = text.replace(secret, "********")
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "********",
                          text)
    return text


def render_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _database_url(raw: str | None, password: SecretStr | None, data_dir: Path, var: str) -> URL:
    if raw is None:
        return make_url(f"sqlite:///{data_dir / 'toolbox.db'}")
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"{var} is not a database URL; expected e.g. "
            "mysql+pymysql://user@host:3306/db or sqlite:////abs/path/toolbox.db"
        ) from None
    if url.get_backend_name() not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"{var} uses unsupported scheme {url.drivername!r}; use mysql+pymysql:// or sqlite://"
        )
    if url.get_backend_name() in ("mysql", "mariadb"):
        url = url.set(drivername="mysql+pymysql")
        if not url.database:
            raise ConfigError(f"{var} names no database; add /DBNAME to the URL")
    if password is not None and password.get_secret_value():
        url = url.set(password=password.get_secret_value())
    return url


def check_env_file(path: Path) -> Path:
    """The env file as an absolute path, once it is a regular file only its owner can read
    and every line of it parses (``KEY=value``, comments, blank lines)."""
    path = path.expanduser()
    if not path.is_absolute():
        path = path.resolve()
    if path.is_dir():
        raise ConfigError(f"env file {path} is a directory; give the path of the file in it, "
                          f"e.g. {path / 'toolbox.env'}")
    if not path.is_file():
        raise ConfigError(f"env file {path} does not exist; give an absolute path to a file")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"env file {path} is readable by others and may hold a password; run chmod 600 {path}"
        )
    _check_env_lines(path)
    return path


def _check_env_lines(path: Path) -> None:
    """A line python-dotenv cannot parse (it would skip it silently), or a TOOLBOX_ name
    without ``=``, is an error naming the file and the line."""
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"env file {path} cannot be read ({exc}); save it as UTF-8") from None
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        shown = binding.original.string.strip()[:40]
        if binding.error:
            raise ConfigError(f"env file {path}, line {line}: cannot read {shown!r}; write "
                              "NAME=value (quote a value with spaces)")
        if binding.key and binding.value is None and binding.key.upper().startswith("TOOLBOX_"):
            raise ConfigError(f"env file {path}, line {line}: {binding.key} has no value; write "
                              f"{binding.key}=value")


# TOOLBOX_* variables that are not settings: what the cron wrapper and the tests pass a run.
PROCESS_VARIABLES = frozenset({
    "TOOLBOX_ENV_FILE", "TOOLBOX_TRIGGER", "TOOLBOX_SLOT", "TOOLBOX_LOG_PATH",
    "TOOLBOX_OUTCOME_FILE", "TOOLBOX_PAUSE_AT", "TOOLBOX_PROFILE_PHASES",
})
_PROCESS_PREFIXES = ("TOOLBOX_TEST_", "TOOLBOX_BENCH_")


def variable_of(field: str) -> str:
    return f"TOOLBOX_{field.upper()}"


def env_file_in_use(env_file: Path | None = None) -> Path | None:
    """The env file of this invocation: --env-file, else TOOLBOX_ENV_FILE, else none."""
    if env_file is None and os.environ.get("TOOLBOX_ENV_FILE"):
        env_file = Path(os.environ["TOOLBOX_ENV_FILE"])
    return check_env_file(env_file) if env_file is not None else None


def _env_file_keys(env_file: Path | None) -> list[str]:
    if env_file is None:
        return []
    from dotenv import dotenv_values  # pydantic-settings reads env files with it too

    return [key.upper() for key in dotenv_values(env_file)]


def setting_sources(env_file: Path | None) -> dict[str, str]:
    """Where each setting's value comes from: the environment (which wins), the env file,
    or the default."""
    in_file = set(_env_file_keys(env_file))
    in_env = {key.upper() for key in os.environ}
    out = {}
    for field in Settings.model_fields:
        variable = variable_of(field)
        out[field] = ("environment" if variable in in_env
                      else "env file" if variable in in_file else "default")
    return out


# Variables a user may try for what is a global option of the command line.
OPTIONS_NOT_SETTINGS = {"TOOLBOX_DEBUG": "--debug", "TOOLBOX_QUIET": "--quiet",
                        "TOOLBOX_VERSION": "--version"}


def unknown_variables(env_file: Path | None) -> list[str]:
    """A warning for each TOOLBOX_* variable (environment or env file) that is no setting,
    naming the closest one: a typo would otherwise be silently ignored."""

    known = [variable_of(f) for f in Settings.model_fields]
    found = [(key, "environment") for key in os.environ if key.upper().startswith("TOOLBOX_")]
    found += [(key, f"env file {env_file}") for key in _env_file_keys(env_file)
              if key.startswith("TOOLBOX_")]
    out = []
    for key, where in found:
        name = key.upper()
        if name in known or name in PROCESS_VARIABLES or name.startswith(_PROCESS_PREFIXES):
            continue
        match = closest(name, known)
        hint = (f"; it is the option {OPTIONS_NOT_SETTINGS[name]} (toolbox "
                f"{OPTIONS_NOT_SETTINGS[name]} COMMAND)" if name in OPTIONS_NOT_SETTINGS
                else f"; did you mean {match}?" if match
                else "; `toolbox config` lists the settings")
        out.append(f"{key} ({where}) is not a toolbox setting and is ignored{hint}")
    return out


def load_settings(env_file: Path | None = None, *, warn_unknown: bool = True) -> Settings:
    """Build the settings; an env file comes from --env-file or TOOLBOX_ENV_FILE. An
    unknown TOOLBOX_* variable is a warning on stderr (unless ``warn_unknown`` is False)."""
    import logging

    env_file = env_file_in_use(env_file)
    for warning in unknown_variables(env_file) if warn_unknown else ():
        logging.getLogger("toolbox").warning(warning)
    kwargs: dict[str, object] = {}
    if env_file is not None:
        kwargs["_env_file"] = env_file
    try:
        return Settings(**kwargs)  # type: ignore[arg-type]  # _env_file is BaseSettings' own argument, not a field
    except ValidationError as exc:
        first = exc.errors()[0]
        field, *inside = [str(p) for p in first["loc"]] or ["settings"]
        where = f"{': '.join(inside)}: " if inside else ""
        raise ConfigError(f"bad setting {variable_of(field)}: {where}{plain_reason(first)}"
                          f"{_example(field)}") from None
    except SettingsError as exc:
        raise ConfigError(_unreadable_setting(exc)) from None


# What a JSON setting looks like, for its error message.
_EXAMPLES = {
    "sheets": '{"sectores": "https://script.google.com/macros/s/KEY/exec"}',
    "schedule_slots": '{"kpi": ["30 7 * * *"]}',
    "max_shrink_percent_tables": '{"saldos": 50, "kpi": 10}',
    "max_total_change_percent_tables": '{"saldos": 50}',
    "max_age_minutes": '{"kpi": 1500}',
}


def _example(field: str) -> str:
    return f"; e.g. {variable_of(field)}='{_EXAMPLES[field]}'" if field in _EXAMPLES else ""


def _unreadable_setting(exc: SettingsError) -> str:
    """A JSON setting pydantic-settings could not decode: the variable, where the JSON
    breaks, and what the setting looks like."""
    found = re.search(r'field "([^"]+)"', str(exc))
    field = found.group(1) if found else ""
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        reason = f"not valid JSON ({cause.msg.lower()} at character {cause.pos + 1})"
    else:
        reason = "cannot be read"
    name = variable_of(field) if field else "a TOOLBOX_* setting"
    return f"bad setting {name}: {reason}{_example(field)}"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain_reason(error: Mapping[str, Any]) -> str:
    """What is wrong with a value, in plain words, from a pydantic error (``errors()[i]``):
    a setting's, or a command-line value's (Typer validates them with pydantic too)."""
    kind, value, ctx = error.get("type", ""), error.get("input"), error.get("ctx") or {}
    shown = repr(value) if isinstance(value, str) else str(value)
    words = {
        "int_parsing": f"must be a whole number, not {shown}",
        "int_from_float": f"must be a whole number, not {shown}",
        "int_type": f"must be a whole number, not {shown}",
        "float_parsing": f"must be a number, not {shown}",
        "float_type": f"must be a number, not {shown}",
        "bool_parsing": f"must be true or false, not {shown}",
        "dict_type": "must be a JSON object of names and values",
        "list_type": "must be a JSON list",
        "string_type": f"must be a text, not {shown}",
        "missing": "is required",
        "greater_than_equal": f"must be at least {_number(ctx.get('ge'))}, not {value}",
        "greater_than": f"must be more than {_number(ctx.get('gt'))}, not {value}",
        "less_than_equal": f"must be at most {_number(ctx.get('le'))}, not {value}",
        "less_than": f"must be less than {_number(ctx.get('lt'))}, not {value}",
    }
    if kind in words:
        return words[kind]
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return f"{shown} is not a valid value"
