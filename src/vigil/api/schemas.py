"""Request and response models of the HTTP API, and the checked types their fields use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from vigil.services.allowlist import AllowKind, check_regex, normalize_entry
from vigil.services.keys import SITE_PATTERN, Scope
from vigil.services.netmatch import parse_client_filter
from vigil.severity import Severity as SeverityBand

MAX_ID = 2**63 - 1
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range") from None
    if not _EARLIEST <= value < _LATEST:
        raise ValueError("time must be between 1970 and 9000")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


CleanText = Annotated[str, AfterValidator(_clean_text)]
SiteName = Annotated[str, StringConstraints(pattern=f"^{SITE_PATTERN.pattern}$")]
UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
Severity = Annotated[SeverityBand, BeforeValidator(_upper)]
ReviewLabel = Literal["true_positive", "false_positive"]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every error response: what was wrong."""

    detail: Any


# ---------------------------------------------------------------- threats


class ThreatOut(_Out):
    """A stored threat event (the shape live alerts have too)."""

    id: int
    event_key: str
    site: str
    source: str = ""
    observed_at: datetime
    created_at: datetime | None = None
    client_ip: str
    method: str = ""
    path: str = ""
    query: str = ""
    status: int | None = None
    bytes_sent: int | None = None
    user_agent: str = ""
    referer: str = ""
    score: float
    severity: str
    detection_mode: str = "rules"
    categories: list[str] = []
    matched_rules: list[dict[str, Any]] = []
    component_scores: dict[str, Any] = {}
    country: str | None = None
    city: str | None = None
    asn: int | None = None
    as_org: str | None = None
    ua_family: str | None = None
    client_class: str | None = None
    model_version: str | None = None
    incident_id: int | None = None
    reviewed: bool = False
    label: str | None = None
    review_note: str | None = None
    reviewed_at: datetime | None = None


class ThreatPage(BaseModel):
    """One page of threat events; pass `next_cursor` as `cursor` for the next."""

    items: list[ThreatOut]
    next_cursor: str | None
    limit: int


class ThreatQuery(BaseModel):
    """Filters, order and page of GET /threats."""

    severity: list[Severity] = Field([], max_length=3, description="repeat for several")
    category: Annotated[CleanText, Field(max_length=64)] | None = None
    rule_id: Annotated[CleanText, Field(max_length=64)] | None = None
    client: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="an IP address or a CIDR"
    )
    path: Annotated[CleanText, Field(max_length=1024)] | None = Field(
        None, description="substring of the request path"
    )
    site: SiteName | None = None
    since: UtcDatetime | None = Field(None, description="observed at or after (ISO 8601)")
    until: UtcDatetime | None = Field(None, description="observed before (ISO 8601)")
    reviewed: bool | None = None
    label: ReviewLabel | None = None
    incident_id: RowId | None = None
    sort: Literal["-observed_at", "observed_at", "-score", "score"] = "-observed_at"
    limit: int = Field(50, ge=1, le=500)
    cursor: Annotated[str, Field(max_length=512)] | None = None

    @field_validator("client")
    @classmethod
    def _client(cls, value: str | None) -> str | None:
        if value is not None:
            parse_client_filter(value)
        return value


class ReviewIn(BaseModel):
    """An analyst's verdict on an event."""

    model_config = ConfigDict(extra="forbid")

    label: ReviewLabel
    note: Annotated[CleanText, Field(max_length=2000)] | None = None


# -------------------------------------------------------------- incidents


class IncidentMemberOut(_Out):
    """A client taking part in a campaign incident."""

    client_ip: str
    first_seen: datetime
    last_seen: datetime
    hits: int = Field(description="its failing requests at the campaign's target")
    events: int


class IncidentOut(_Out):
    """One attacker's episode on one site, or a campaign across many clients (`campaign` set,
    `client_ip` is `*`): its target, explanation and members."""

    id: int
    site: str
    client_ip: str
    first_seen: datetime
    last_seen: datetime
    event_count: int
    top_severity: str
    max_score: float
    categories: list[str] = []
    status: str
    campaign: str | None = Field(None, description="a campaign's target, e.g. POST /x 404")
    summary: str | None = Field(None, description="a campaign's latest explanation")
    member_count: int = Field(0, description="a campaign's member clients")
    members: list[IncidentMemberOut] = Field(
        [],
        description="a campaign's most recently seen members: a few in a list of incidents, "
        "the first page in one incident (more with GET /incidents/{id}/members)",
    )


class IncidentDetail(IncidentOut):
    """An incident with its newest events (behaviour evidence in their `component_scores`)
    and the block decisions made for it."""

    events: list[ThreatOut]
    decisions: list[DecisionOut] = []
    members_next_cursor: str | None = None


class IncidentMemberPage(BaseModel):
    items: list[IncidentMemberOut]
    next_cursor: str | None
    limit: int


class IncidentMemberQuery(BaseModel):
    """Page of GET /incidents/{id}/members: most recently seen first."""

    limit: int = Field(100, ge=1, le=1000)
    cursor: Annotated[str, Field(max_length=512)] | None = None


class IncidentReviewIn(BaseModel):
    """Close an incident as reviewed; the note goes into the audit trail."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["reviewed"] = "reviewed"
    note: Annotated[CleanText, Field(max_length=2000)] | None = None


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None
    limit: int


class IncidentQuery(BaseModel):
    """Filters, order and page of GET /incidents."""

    site: SiteName | None = None
    status: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,16}$")] | None = None
    severity: list[Severity] = Field([], max_length=3)
    client: Annotated[str, Field(max_length=64)] | None = None
    since: UtcDatetime | None = Field(None, description="last seen at or after")
    until: UtcDatetime | None = Field(None, description="first seen before")
    sort: Literal["-last_seen", "last_seen"] = "-last_seen"
    limit: int = Field(50, ge=1, le=500)
    cursor: Annotated[str, Field(max_length=512)] | None = None

    @field_validator("client")
    @classmethod
    def _client(cls, value: str | None) -> str | None:
        if value is not None:
            parse_client_filter(value)
        return value


# ------------------------------------------------------------------ stats


class StatsQuery(BaseModel):
    """A named range ending now (or at `to`), or an explicit one with `from`/`to` (at most
    3660 days)."""

    model_config = ConfigDict(populate_by_name=True)

    range: Literal["1h", "24h", "7d", "30d"] = "24h"
    since: UtcDatetime | None = Field(None, alias="from")
    until: UtcDatetime | None = Field(None, alias="to")
    site: SiteName | None = None
    top: int = Field(10, ge=1, le=100)

    @model_validator(mode="after")
    def _span(self) -> StatsQuery:
        if self.since is not None and self.until is not None:
            if self.since >= self.until:
                raise ValueError("'from' must be before 'to'")
            if (self.until - self.since).days > 3660:
                raise ValueError("the range may span at most 3660 days")
        return self


class BucketOut(BaseModel):
    start: datetime
    severities: dict[str, int]
    categories: dict[str, int]
    requests: int = Field(0, description="every request of the bucket, threats or not")
    traffic: dict[str, int] = Field(
        {}, description="the bucket's request counters (as `traffic` of the whole range)"
    )


class RankedOut(BaseModel):
    value: str
    count: int
    max_score: float | None = None


class StatsOut(_Out):
    """Counts over [since, until): the requested range aligned to whole rollup buckets."""

    since: datetime
    until: datetime
    bucket_seconds: int
    resolution: Literal["m", "h", "d"] = Field(
        description="rollup period read: minutes (ranges up to 6 h), hours (up to 8 days), days"
    )
    totals: dict[str, int]
    categories: dict[str, int]
    buckets: list[BucketOut]
    top_ips: list[RankedOut]
    top_paths: list[RankedOut]
    top_rules: list[RankedOut]
    top_countries: list[RankedOut]
    top_statuses: list[RankedOut]
    top_asns: list[RankedOut] = []
    top_user_agents: list[RankedOut] = []
    latest: datetime | None = Field(
        None, description="end of the newest hour with any data the key may see (null: none)"
    )
    traffic: dict[str, int] = Field(
        description="requests, low, medium, high, malformed, dead_letters, bytes_sent, "
        "status_2xx … status_5xx, status_other, visitors (distinct clients, estimated)"
    )


# ----------------------------------------------------------- health, models


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_seconds: float
    pipeline: dict[str, Any] | None


class CheckOut(BaseModel):
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, CheckOut]


class ModelOut(_Out):
    id: int
    model_type: str
    version: str
    created_at: datetime
    training_samples: int
    metrics: dict[str, Any]
    is_active: bool


class RetrainJobOut(_Out):
    id: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class ModelsStatusOut(BaseModel):
    models: list[ModelOut]
    retrain_available: bool
    retrain: RetrainJobOut | None


class ModelActivateIn(BaseModel):
    """Activate a recorded model version."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$")]
    force: bool = Field(False, description="activate even if its validation gates failed")


class ModelChangeOut(ModelOut):
    """The model now active, and whether the running pipeline loaded it."""

    loaded: str | None = Field(
        None,
        description="classifier version the running pipeline uses now; null where no pipeline "
        "runs in this process (it loads the active models when it starts)",
    )


class ModelRollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_type: Literal["classifier", "anomaly"] = "classifier"


class RetrainAccepted(BaseModel):
    job_id: str
    status: str


# ----------------------------------------------------------------- ingest


class IngestIn(BaseModel):
    """Raw log lines to analyse, as the tailer would read them."""

    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")]
    lines: list[str]
    site: SiteName | None = None


class IngestAccepted(BaseModel):
    accepted: int
    site: str


# ----------------------------------------------------- blocklist, decisions


class DecisionOut(_Out):
    id: int
    site: str | None = Field(description="null: a decision for every site")
    value: str
    scope: str
    reason: str
    origin: str
    incident_id: int | None
    created_at: datetime
    expires_at: datetime | None


class BlocklistOut(BaseModel):
    items: list[DecisionOut]
    count: int


class DecisionIn(BaseModel):
    """A manual block of an address or CIDR."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, Field(max_length=64)]
    site: SiteName | None = None
    all_sites: bool = Field(
        False, description="block on every site (needs an admin key for every site)"
    )
    force: bool = Field(
        False,
        description="allow a network wider than the configured limit (/16 IPv4, /32 IPv6 by "
        "default); needs an admin key for every site",
    )
    reason: Annotated[CleanText, Field(max_length=500)] = ""
    duration_minutes: int | None = Field(None, ge=1, le=525_600, description="none: no expiry")

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        parse_client_filter(value)
        return value


# ------------------------------------------------- allowlist and exclusions


class AllowlistIn(BaseModel):
    """Traffic never to report: an IP, a CIDR or a user-agent substring."""

    model_config = ConfigDict(extra="forbid")

    kind: AllowKind
    value: Annotated[CleanText, Field(min_length=1, max_length=512)]
    site: SiteName | None = None
    reason: Annotated[CleanText, Field(max_length=500)] = ""
    expires_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _value_fits_kind(self) -> AllowlistIn:
        self.value = normalize_entry(self.kind, self.value)
        return self


class AllowlistOut(_Out):
    id: int
    site: str | None
    kind: str
    value: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None


class ExclusionIn(BaseModel):
    """A rule switched off for a path prefix, a path regex and/or one argument name."""

    model_config = ConfigDict(extra="forbid")

    rule_id: RuleId
    site: SiteName | None = None
    path_prefix: Annotated[CleanText, Field(min_length=1, max_length=1024)] | None = None
    path_regex: Annotated[CleanText, Field(min_length=1, max_length=1024)] | None = None
    argument: Annotated[CleanText, Field(min_length=1, max_length=256)] | None = None
    reason: Annotated[CleanText, Field(max_length=500)] = ""

    @field_validator("path_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return check_regex(value) if value is not None else None


class ExclusionOut(_Out):
    id: int
    site: str | None
    rule_id: str
    path_prefix: str | None
    path_regex: str | None
    argument: str | None
    reason: str
    created_by: str
    created_at: datetime


# ------------------------------------------------------------------- keys


def _name_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[CleanText, AfterValidator(_name_text), Field(min_length=1, max_length=128)]
    scope: Scope
    sites: list[SiteName] = Field([], max_length=100, description="empty: every site")


class KeyOut(_Out):
    id: int
    name: str
    prefix: str
    scope: str
    sites: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyMe(BaseModel):
    """The calling key: what the dashboard shows and which actions it offers."""

    id: int | None = Field(description="null for the bootstrap admin key from the settings")
    name: str
    scope: str
    sites: list[str] | None = Field(description="null: every site")


class TicketOut(BaseModel):
    """Opens /ws/alerts once as `?ticket=...`, within `expires_in` seconds."""

    ticket: str
    expires_in: int


class KeyCreated(KeyOut):
    key: str = Field(description="the key itself; shown only in this response")


# ------------------------------------------------------------------ audit


class AuditOut(_Out):
    """One change made through the API: who (the key's id and name), what, when."""

    id: int
    at: datetime
    key_id: int | None
    key_name: str
    action: str
    target: str
    site: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None
    limit: int


IncidentDetail.model_rebuild()
