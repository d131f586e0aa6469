"""Settings from the environment and `.env`, every name prefixed `VIGIL_`.

Each component is built from its own typed section of the settings (`Settings.store`,
`.webhooks`, `.file_source`, `.broker`, `.http_ingest`, `.parser`, `.rules`, `.behaviour`,
`.profile`, `.enrich`, `.runner`, `.agent`, `.cluster`, and one section per optional sink).
A key of a section can be set by its nested name, `VIGIL_<SECTION>__<KEY>` (e.g.
`VIGIL_STORE__RETRY_MAX_SECONDS`), or by the flat name it has always had
(`VIGIL_STORE_RETRY_MAX_SECONDS`); where one source (the environment, `.env`) gives both, the
nested name wins. A TOML file named by `VIGIL_CONFIG_FILE` may hold settings too, flat names at
its top and each section as a table (`[store]`, `[jsonl_sink]`); the environment and `.env`
override it.

`load_settings()` turns a validation failure into one `ConfigError` line that names the
environment variable and what it accepts, so start-up never shows a traceback for a typo.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from vigil.errors import ConfigError

ENV_PREFIX = "VIGIL_"
SECRET_FIELDS = frozenset({"api_admin_key", "webhook_secret"})
URL_FIELDS = frozenset({"database_url", "redis_url"})

CommaList = Annotated[list[str], NoDecode]


def _host_name() -> str:
    """This host's name as an agent name (characters outside the name's pattern become -)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64].lstrip("._-")
    return name or "agent"


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SinkSection(BaseModel):
    """The config section of one optional sink.

    `module` names the module of `vigil.sinks` that builds the sink with
    `build(section, settings)`; the pipeline builds every sink whose section is `enabled`. A
    section is a field of `Settings`, set as `VIGIL_<FIELD>__<KEY>` (e.g.
    `VIGIL_JSONL_SINK__PATH`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    module: ClassVar[str]

    @property
    def enabled(self) -> bool:
        raise NotImplementedError

    def build_sink(self, settings: Settings) -> Any:
        """The sink of this section (a `vigil.sinks.base.Sink`), from the module it names."""
        return import_module(self.module).build(self, settings)


class JsonlSinkSection(SinkSection):
    """`VIGIL_JSONL_SINK__PATH`: append each stored threat event to this file as one JSON line
    (with `vigil scan --no-store`, each threat found)."""

    module: ClassVar[str] = "vigil.sinks.jsonl"

    path: Path | None = Field(None, description="file the events are appended to")

    @property
    def enabled(self) -> bool:
        return self.path is not None


class Section(BaseModel):
    """A typed section of the settings, from which one component is built.

    `flat` maps each key of the section to the `Settings` field that stores it (the flat
    name, `VIGIL_<FIELD>`); the section is also addressable by its nested names,
    `VIGIL_<SECTION>__<KEY>` (see `SECTIONS`). A section is made from settings
    (`Settings.section`), whose fields validate each value and hold its default and
    description: a section's keys have no defaults of their own, so each default is written
    once.
    """

    model_config = ConfigDict(frozen=True)

    flat: ClassVar[dict[str, str]]


class FileSourceSection(Section):
    """What the file sources (the tailer of `vigil serve`, the reader of `vigil scan`) are
    built from."""

    flat: ClassVar[dict[str, str]] = {
        "paths": "log_paths",
        "batch_size": "batch_size",
        "batch_time_ms": "batch_time_ms",
        "read_chunk_bytes": "read_chunk_bytes",
        "max_line_bytes": "max_line_bytes",
    }

    paths: tuple[str, ...]
    batch_size: int
    batch_time_ms: int
    read_chunk_bytes: int
    max_line_bytes: int


class WebhookSection(Section):
    """What the webhook sink is built from."""

    flat: ClassVar[dict[str, str]] = {
        "urls": "webhook_urls",
        "secret": "webhook_secret",
        "throttle_seconds": "webhook_throttle_seconds",
    }

    urls: tuple[str, ...]
    secret: SecretStr | None
    throttle_seconds: float


class StoreSection(Section):
    """What the store sink is built from: incidents, block decisions and retries."""

    flat: ClassVar[dict[str, str]] = {
        "incident_quiet_minutes": "incident_quiet_minutes",
        "retry_max_seconds": "store_retry_max_seconds",
        "block_on_high": "block_on_high",
        "block_medium_count": "block_medium_count",
        "block_medium_window_minutes": "block_medium_window_minutes",
        "block_duration_minutes": "block_duration_minutes",
        "block_simulation": "block_simulation",
    }

    incident_quiet_minutes: int
    retry_max_seconds: float
    block_on_high: bool
    block_medium_count: int
    block_medium_window_minutes: int
    block_duration_minutes: int
    block_simulation: bool


class BrokerSection(Section):
    """What the broker of live alerts is built from: Redis pub/sub at `redis_url`, or the
    in-process broker when it is unset."""

    flat: ClassVar[dict[str, str]] = {"redis_url": "redis_url", "prefix": "redis_prefix"}

    redis_url: str | None
    prefix: str


class HttpIngestSection(Section):
    """What HTTP ingest (`POST /ingest/batch`) accepts: larger batches get 413."""

    flat: ClassVar[dict[str, str]] = {
        "max_lines": "ingest_max_lines",
        "max_bytes": "ingest_max_bytes",
    }

    max_lines: int
    max_bytes: int


class ParserSection(Section):
    """What the parse stage (and a cluster agent's client splitter) is built from."""

    flat: ClassVar[dict[str, str]] = {
        "format": "log_format",
        "trusted_proxies": "trusted_proxies",
    }

    format: str
    trusted_proxies: tuple[str, ...]


class RulesSection(Section):
    """What the rule engine (the normalise and rules stages) is built from."""

    flat: ClassVar[dict[str, str]] = {
        "paranoia_level": "paranoia_level",
        "dirs": "rules_dirs",
        "disabled": "disabled_rules",
        "exclusions_file": "exclusions_file",
    }

    paranoia_level: int
    dirs: tuple[str, ...]
    disabled: tuple[str, ...]
    exclusions_file: Path | None


class BehaviourSection(Section):
    """What the behaviour stage and its snapshots are built from."""

    flat: ClassVar[dict[str, str]] = {
        "enabled": "behaviour_enabled",
        "config_file": "behaviour_config_file",
        "snapshot_seconds": "behaviour_snapshot_seconds",
    }

    enabled: bool
    config_file: Path | None
    snapshot_seconds: float


class ProfileSection(Section):
    """What the site-profile stage is built from (judging, and learning in `vigil serve`)."""

    flat: ClassVar[dict[str, str]] = {
        "enabled": "profile_enabled",
        "learning_hours": "profile_learning_hours",
        "save_seconds": "profile_save_seconds",
    }

    enabled: bool
    learning_hours: float
    save_seconds: float


class EnrichSection(Section):
    """The GeoIP databases the enricher reads (country and ASN of clients)."""

    flat: ClassVar[dict[str, str]] = {
        "geoip_city_db": "geoip_city_db",
        "geoip_asn_db": "geoip_asn_db",
    }

    geoip_city_db: Path | None
    geoip_asn_db: Path | None


class RunnerSection(Section):
    """What the pipeline's runner is built from: its queues and the helper process."""

    flat: ClassVar[dict[str, str]] = {
        "queue_size": "queue_size",
        "helper_process": "helper_process",
    }

    queue_size: int
    helper_process: bool | None


class AgentSection(Section):
    """What `vigil agent` is built from (its Redis is the broker section's, its partitions
    the cluster section's)."""

    flat: ClassVar[dict[str, str]] = {"name": "agent_name", "batch_ms": "agent_batch_ms"}

    name: str
    batch_ms: int


class ClusterSection(Section):
    """What a cluster's streams, agents and workers share."""

    flat: ClassVar[dict[str, str]] = {
        "partitions": "cluster_partitions",
        "max_backlog": "cluster_max_backlog",
        "lease_seconds": "cluster_lease_seconds",
        "controls_seconds": "cluster_controls_seconds",
    }

    partitions: int
    max_backlog: int
    lease_seconds: float
    controls_seconds: float


SECTIONS: dict[str, type[Section]] = {
    "file_source": FileSourceSection,
    "webhooks": WebhookSection,
    "store": StoreSection,
    "broker": BrokerSection,
    "http_ingest": HttpIngestSection,
    "parser": ParserSection,
    "rules": RulesSection,
    "behaviour": BehaviourSection,
    "profile": ProfileSection,
    "enrich": EnrichSection,
    "runner": RunnerSection,
    "agent": AgentSection,
    "cluster": ClusterSection,
}
"""The sections addressable by nested names (`VIGIL_STORE__RETRY_MAX_SECONDS`), by name."""

_NESTED_NAMES: dict[str, str] = {
    f"{section}__{key}": flat_name
    for section, cls in SECTIONS.items()
    for key, flat_name in cls.flat.items()
}
"""Nested name (lower case, without the prefix) → the flat field it sets."""


def _unknown_key(section: str, where: str, key: str) -> ConfigError:
    """The one-line error for a key `section` does not have, listing the keys it has."""
    known = ", ".join(sorted(SECTIONS[section].flat))
    return ConfigError(f"{where}: the {section} section has no key {key} (it has: {known})")


class _NestedSectionNames(PydanticBaseSettingsSource):
    """An environment or `.env` source that also reads the sections' nested names
    (`VIGIL_STORE__RETRY_MAX_SECONDS`) into the flat fields they stand for; a nested name wins
    over the flat one given by the same source."""

    def __init__(self, source: EnvSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.source = source
        self.__name__ = type(source).__name__  # the name pydantic-settings knows it by

    def _set_current_state(self, state: dict[str, Any]) -> None:
        super()._set_current_state(state)
        self.source._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        super()._set_settings_sources_data(states)
        self.source._set_settings_sources_data(states)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = self.source()
        variables = self.source.env_vars
        prefix = ENV_PREFIX.lower()
        for name, value in variables.items():
            if not name.startswith(prefix) or value is None:
                continue
            nested = name[len(prefix) :]
            flat_name = _NESTED_NAMES.get(nested)
            if flat_name is not None:
                values[flat_name] = value
                continue
            section, _, key = nested.partition("__")
            if key and section in SECTIONS:
                # A typo in a section's key must not pass unnoticed, as one in a flat name
                # cannot (there, pydantic-settings has no field to give it to either, but the
                # section's other keys show what was meant).
                raise _unknown_key(section, f"invalid setting {name.upper()}", repr(key))
        return values


class _ConfigFile(PydanticBaseSettingsSource):
    """The TOML file named by `VIGIL_CONFIG_FILE` (in the environment): settings by their flat
    names at the top, and a table per section (`[store]`, `[broker]`, `[jsonl_sink]`); a key
    of a section's table wins over its flat name in the same file."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_FILE_VARIABLE)
        if not path:
            return {}
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"cannot read {CONFIG_FILE_VARIABLE} {path}: {reason}") from None
        fields = self.settings_cls.model_fields
        flat: dict[str, Any] = {}
        nested: dict[str, Any] = {}
        for key, value in data.items():
            section = SECTIONS.get(key)
            if section is not None and isinstance(value, dict):
                for name, item in value.items():
                    if name not in section.flat:
                        raise _unknown_key(key, f"invalid setting [{key}] {name} in {path}", name)
                    nested[section.flat[name]] = item
            elif key in fields:
                flat[key] = value
            else:
                raise ConfigError(f"invalid setting {key} in {path}: vigil has no such setting")
        return {**flat, **nested}


CONFIG_FILE_VARIABLE = ENV_PREFIX + "CONFIG_FILE"

_S = TypeVar("_S", bound=Section)


class Settings(BaseSettings):
    """Everything an operator can set. Defaults give the embedded single-process setup."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    database_url: str = Field(
        "sqlite+aiosqlite:///./vigil.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    redis_url: str | None = Field(
        None, description="redis://host:port/db; unset means the in-process broker"
    )
    redis_prefix: str = Field(
        "vigil",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
        description="prefix of every Redis channel and key (letters, digits, . _ : -); give "
        "each deployment sharing one Redis its own",
    )
    log_paths: CommaList = Field(
        default_factory=list, description="comma-separated files or globs to tail"
    )
    log_format: str = Field(
        "auto",
        description="auto, combined, common, apache-combined, json, or a log_format string",
    )
    site: str = Field("default", description="site name given to events of this process")
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="CIDRs whose X-Forwarded-For is believed for the client IP",
    )
    cluster_partitions: int = Field(
        12,
        ge=1,
        le=4096,
        description="partitions of a new cluster's line streams (a cluster keeps the count it "
        "was created with)",
    )
    agent_name: str = Field(
        default_factory=_host_name,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="name of this vigil agent: the source of its lines (default: host name)",
    )
    agent_batch_ms: int = Field(
        200,
        ge=1,
        le=10_000,
        description="a vigil agent sends a file's lines at least this often (larger entries "
        "cost Redis and the workers' transactions less per line)",
    )
    cluster_max_backlog: int = Field(
        200_000,
        ge=100,
        description="entries a partition stream may hold before agents wait for the workers",
    )
    cluster_lease_seconds: float = Field(
        10.0,
        ge=1.0,
        le=300.0,
        description="a worker's partition lease; a dead worker's partitions move after this",
    )
    cluster_controls_seconds: float = Field(
        30.0,
        ge=0.5,
        le=3600.0,
        description="a worker re-reads the stored allowlists and exclusions at least this often "
        "(a change made through an API node reaches the workers at their next lease round)",
    )
    host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(8080, ge=1, le=65535, description="port the HTTP API listens on")

    db_pool_size: int = Field(5, ge=1, le=200, description="PostgreSQL pool size")
    db_max_overflow: int = Field(10, ge=0, le=500, description="PostgreSQL pool overflow")
    db_pool_recycle: int = Field(1800, ge=1, description="seconds before a connection is renewed")
    db_pool_pre_ping: bool = Field(True, description="test connections before use")
    db_connect_timeout: float = Field(
        3.0, gt=0, le=60, description="seconds to wait for a database connection"
    )
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout")

    batch_size: int = Field(2048, ge=1, le=1_000_000, description="records per batch")
    batch_time_ms: int = Field(20, ge=1, le=60_000, description="longest wait to fill a batch")
    queue_size: int = Field(8, ge=1, le=10_000, description="batches buffered between stages")
    read_chunk_bytes: int = Field(1 << 20, ge=4096, description="bytes a file source reads at once")
    shutdown_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="seconds vigil serve takes at SIGTERM to store what it has read before it "
        "stops (what is left is read again at the next start)",
    )
    max_line_bytes: int = Field(
        1 << 20, ge=1024, description="longest line accepted before it is dead-lettered"
    )

    paranoia_level: int = Field(1, ge=1, le=4, description="rule paranoia level 1-4")
    rules_dirs: CommaList = Field(
        default_factory=list, description="extra directories of rule files"
    )
    disabled_rules: CommaList = Field(
        default_factory=list, description="rule ids or tags that never fire"
    )
    exclusions_file: Path | None = Field(None, description="YAML file of exclusions and allowlists")
    geoip_city_db: Path | None = Field(None, description="MaxMind-format city database")
    geoip_asn_db: Path | None = Field(None, description="MaxMind-format ASN database")

    behaviour_config_file: Path | None = Field(
        None, description="YAML of behaviour thresholds (defaults suit a small site)"
    )
    state_dir: Path = Field(
        Path("."), description="where vigil serve keeps its behaviour-window snapshot"
    )
    behaviour_enabled: bool = Field(
        True, description="run the behaviour windows (scans, floods, brute force, stuffing)"
    )
    helper_process: bool | None = Field(
        None,
        description="vigil scan shares its analysis with a second process, which keeps the "
        "behaviour windows and detects some batches (default: when the machine has two or "
        "more cores and the input is large)",
    )
    behaviour_snapshot_seconds: float = Field(
        30.0, gt=0, description="how often vigil serve snapshots behaviour windows"
    )
    profile_enabled: bool = Field(
        True, description="judge each site against its learned profile (and learn it in serve)"
    )
    profile_learning_hours: float = Field(
        24.0, gt=0, description="hours of a site's traffic learned before its profile judges"
    )
    profile_save_seconds: float = Field(
        60.0, gt=0, description="how often vigil serve saves the profiles it learns"
    )
    model_dir: Path = Field(Path("models"), description="where trained models are kept")
    detection_mode: Literal["rules", "hybrid"] = Field(
        "hybrid", description="rules only, or rules plus ML models"
    )

    retention_days: int = Field(
        30,
        ge=0,
        description="days of threat events kept (and of minute rollups, incidents, dead "
        "letters); 0 keeps them forever",
    )
    rollup_retention_days: int = Field(
        400, ge=0, description="days of hourly and daily rollups kept; 0 keeps them forever"
    )
    prune_interval_minutes: float = Field(
        60.0, gt=0, description="how often vigil serve prunes what is past retention"
    )
    incident_quiet_minutes: int = Field(
        30,
        ge=1,
        description="minutes without events after which a client's next event opens a new incident",
    )
    block_on_high: bool = Field(True, description="block a client with any HIGH event")
    block_medium_count: int = Field(
        10, ge=1, description="block a client after this many MEDIUM events…"
    )
    block_medium_window_minutes: int = Field(10, ge=1, description="…within this many minutes")
    block_duration_minutes: int = Field(240, ge=1, description="how long a block decision lasts")
    decision_max_prefix_v4: int = Field(
        16, ge=0, le=32, description="widest IPv4 network a decision may block (prefix length)"
    )
    decision_max_prefix_v6: int = Field(
        32, ge=0, le=128, description="widest IPv6 network a decision may block (prefix length)"
    )
    block_simulation: bool = Field(
        False, description="record decisions without publishing them (trial period)"
    )
    webhook_throttle_seconds: float = Field(
        60.0, ge=0, description="per incident, further alerts within this time become one summary"
    )
    store_retry_max_seconds: float = Field(
        30.0, gt=0, description="longest wait between retries when the database is down"
    )

    api_admin_key: SecretStr | None = Field(
        None, description="bootstrap admin API key (prefer `vigil keys create`)"
    )
    metrics_public: bool = Field(True, description="serve /metrics without an API key")
    webhook_urls: CommaList = Field(default_factory=list, description="JSON webhook targets")
    webhook_secret: SecretStr | None = Field(None, description="HMAC secret for webhooks")
    ingest_max_lines: int = Field(
        10_000, ge=1, le=1_000_000, description="most lines POST /ingest/batch accepts at once"
    )
    ingest_max_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="largest body POST /ingest/batch accepts (bytes)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="log verbosity"
    )
    jsonl_sink: JsonlSinkSection = Field(
        default_factory=JsonlSinkSection, description="JSON-lines file of events (a sink)"
    )

    # The typed section each component is built from, read from the flat fields that store
    # it (operators already set `VIGIL_WEBHOOK_URLS`, …); a component reads its section, never
    # the whole settings.
    def section(self, cls: type[_S]) -> _S:
        """The section `cls` as these settings have it."""
        return cls(**{key: getattr(self, name) for key, name in cls.flat.items()})

    @property
    def file_source(self) -> FileSourceSection:
        return self.section(FileSourceSection)

    @property
    def webhooks(self) -> WebhookSection:
        return self.section(WebhookSection)

    @property
    def store(self) -> StoreSection:
        return self.section(StoreSection)

    @property
    def broker(self) -> BrokerSection:
        return self.section(BrokerSection)

    @property
    def http_ingest(self) -> HttpIngestSection:
        return self.section(HttpIngestSection)

    @property
    def parser(self) -> ParserSection:
        return self.section(ParserSection)

    @property
    def rules(self) -> RulesSection:
        return self.section(RulesSection)

    @property
    def behaviour(self) -> BehaviourSection:
        return self.section(BehaviourSection)

    @property
    def profile(self) -> ProfileSection:
        return self.section(ProfileSection)

    @property
    def enrich(self) -> EnrichSection:
        return self.section(EnrichSection)

    @property
    def runner(self) -> RunnerSection:
        return self.section(RunnerSection)

    @property
    def agent(self) -> AgentSection:
        return self.section(AgentSection)

    @property
    def cluster(self) -> ClusterSection:
        return self.section(ClusterSection)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, EnvSettingsSource)
        return (
            init_settings,
            _NestedSectionNames(env_settings),
            _NestedSectionNames(dotenv_settings),
            _ConfigFile(settings_cls),
            file_secret_settings,
        )

    def sink_sections(self) -> list[SinkSection]:
        """The config sections of the optional sinks, in the order they are declared."""
        return [
            value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SinkSection)
        ]

    @field_validator(
        "log_paths",
        "trusted_proxies",
        "rules_dirs",
        "disabled_rules",
        "webhook_urls",
        mode="before",
    )
    @classmethod
    def _comma_lists(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        url = _URL.match(value)
        if url is None:
            raise ValueError("not a database URL")
        if url["name"] not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _rollups_outlive_events(self) -> Settings:
        events, rollups = self.retention_days, self.rollup_retention_days
        if rollups and events and rollups < events:
            raise ValueError(
                "VIGIL_ROLLUP_RETENTION_DAYS must be 0 or at least VIGIL_RETENTION_DAYS (the "
                "dashboard's counts would end before the events they count)"
            )
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def redacted(self) -> dict[str, Any]:
        """Every setting as it is in force, with passwords and keys replaced by `***`."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                shown[name] = "***" if value is not None else None
            elif name in URL_FIELDS and value:
                shown[name] = redact_url(value)
            elif isinstance(value, Path):
                shown[name] = str(value)
            elif isinstance(value, BaseModel):
                for key, item in value.model_dump().items():
                    shown[f"{name}__{key}"] = str(item) if isinstance(item, Path) else item
            else:
                shown[name] = value
        return shown


# The shape SQLAlchemy's URL parser reads (name://[user[:password]@]rest), matched here so
# that settings are read and shown without importing SQLAlchemy (start-up of every command).
_URL = re.compile(
    r"^(?P<name>[\w+]+)://(?:(?P<user>[^:/]*)(?::(?P<password>[^@]*))?@)?(?P<rest>.*)$",
    re.DOTALL,
)


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`."""
    parsed = _URL.match(url)
    if parsed is None:
        return "<unparseable URL>"
    if parsed["password"] is None:
        return url
    return f"{parsed['name']}://{parsed['user']}:***@{parsed['rest']}"


def _describe_error(err: Mapping[str, Any]) -> str:
    loc = err.get("loc") or ()
    if not loc:  # a rule between settings names them itself
        return "invalid settings: " + str(err.get("msg", "")).removeprefix("Value error, ")
    name = str(loc[0])
    # A key of a section (VIGIL_JSONL_SINK__PATH) is named with its section.
    env_name = ENV_PREFIX + "__".join(str(part).upper() for part in loc[:2])
    field = Settings.model_fields.get(name)
    allowed = f" (expected: {field.description})" if field and field.description else ""
    nested = [ENV_PREFIX + key.upper() for key, flat in _NESTED_NAMES.items() if flat == name]
    if nested and len(loc) == 1:  # the value may have come by its section's name
        env_name = f"{env_name} ({nested[0]})"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"invalid setting {env_name}: {msg}{allowed}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad value raises `ConfigError` with one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe_error(exc.errors()[0])) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def settings_with(**options: Any) -> Settings:
    """The process settings, overridden by the command-line options that were given (not None)."""
    given = {name: value for name, value in options.items() if value is not None}
    return load_settings(**given) if given else get_settings()
