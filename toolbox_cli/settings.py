"""Configuration from TOOLBOX_* environment variables and an optional env file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from toolbox_cli.errors import ConfigError

SUPPORTED_DRIVERS = ("sqlite", "mysql", "mariadb")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOOLBOX_", extra="ignore")

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
    # MySQL/MariaDB: child processes that read and compute the kpi chunks (0: this process).
    workers: int = Field(default=2, ge=0, le=16)
    tipo_cambio_url: str = "https://api.apis.net.pe/v1/tipo-cambio-sunat?fecha={fecha}"
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
    # The guard before every swap (design: "a bad source is never published").
    max_shrink_percent: float = Field(
        default=20.0, ge=0, le=100,
        description="a new table with this much fewer rows than the live one fails the run",
    )
    max_shrink_percent_tables: dict[str, float] = Field(
        default_factory=dict,
        description='per-table overrides of max_shrink_percent: {"saldos": 50}',
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (try America/Lima)") from exc
        return value

    @field_validator("max_shrink_percent_tables")
    @classmethod
    def _percentages(cls, value: dict[str, float]) -> dict[str, float]:
        for table, percent in value.items():
            if not 0 <= percent <= 100:
                raise ValueError(f"{table}: {percent} is not a percentage between 0 and 100")
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

    def masked(self) -> dict[str, object]:
        """The effective settings with every password hidden."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        out["database_url"] = render_url(self.datamart_url())
        out["source_url"] = render_url(self.source_database_url())
        out["data_dir"] = str(self.resolved_data_dir)
        out["log_dir"] = str(self.resolved_log_dir)
        return out


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
    path = path.expanduser()
    if not path.is_absolute():
        path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"env file {path} does not exist; give an absolute path to a file")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"env file {path} is readable by others and may hold a password; run chmod 600 {path}"
        )
    return path


def load_settings(env_file: Path | None = None) -> Settings:
    """Build the settings; an env file comes from --env-file or TOOLBOX_ENV_FILE."""
    if env_file is None and os.environ.get("TOOLBOX_ENV_FILE"):
        env_file = Path(os.environ["TOOLBOX_ENV_FILE"])
    kwargs: dict[str, object] = {}
    if env_file is not None:
        kwargs["_env_file"] = check_env_file(env_file)
    try:
        return Settings(**kwargs)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(
            f"bad setting TOOLBOX_{field.upper()}: {first['msg']}"
        ) from None
