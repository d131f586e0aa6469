"""The tables of DESIGN.md §4, in column types that work on SQLite and PostgreSQL.

The schema belongs to Alembic (`vigil db upgrade`); `Base.metadata.create_all` is for tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends; SQLite stores no zone, so UTC is implied."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    paranoia_level: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """One attacker's episode on one site: what an operator reviews instead of each event."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_site_client_last", "site", "client_ip", "last_seen"),
        # Each /incidents filter, followed by the most-recently-active-first order.
        Index("ix_incidents_last_seen", "last_seen", "id"),
        Index("ix_incidents_site_last_seen", "site", "last_seen", "id"),
        Index("ix_incidents_status_last_seen", "status", "last_seen", "id"),
        Index("ix_incidents_severity_last_seen", "top_severity", "last_seen", "id"),
        # A campaign's open incident is found by its target.
        Index("ix_incidents_site_campaign", "site", "campaign", "last_seen"),
        Index(
            "ix_incidents_client_last_seen",
            "client_ip",
            "last_seen",
            "id",
            postgresql_ops={"client_ip": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64), default="default")
    client_ip: Mapped[str] = mapped_column(String(45))
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    top_severity: Mapped[str] = mapped_column(String(8))
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set on a campaign's incident (its client is `*`): the target, e.g. `POST /xmlrpc.php 404`,
    # and the latest explanation; its clients are rows of `incident_members`.
    campaign: Mapped[str | None] = mapped_column(String(255), nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)


class IncidentMember(Base):
    """A client taking part in a campaign incident, with when and how often it was seen."""

    __tablename__ = "incident_members"

    # The incident by key only; retention deletes a campaign's members with it.
    incident_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    hits: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)


class ThreatEvent(Base):
    """A request (or behaviour firing) scored MEDIUM or HIGH.

    On PostgreSQL the table is partitioned by day of `observed_at` (see `vigil.db.partitions`):
    its primary key there is (id, observed_at), because a key of a partitioned table must hold
    the partition column, and for the same reason the event key is unique together with
    `observed_at`. Both come from the log line, so a replayed line meets its first copy; the
    store looks keys up when a batch overlaps what was stored before (see the store). That key
    leads with `observed_at`: event keys are hashes, and an index led by them took each insert
    to a random page; a log in time order appends to this one.
    Every index ends in (observed_at, id) where a filter is followed by the newest-first order,
    so each `/threats` filter is one ordered index range per partition.
    """

    __tablename__ = "threat_events"
    __table_args__ = (
        UniqueConstraint("observed_at", "event_key"),
        Index("ix_threat_events_observed_at", "observed_at", "id"),
        # text_pattern_ops (PostgreSQL) serves both `=` and the `LIKE '10.1.%'` of CIDR filters.
        Index(
            "ix_threat_events_client_ip",
            "client_ip",
            "observed_at",
            "id",
            postgresql_ops={"client_ip": "text_pattern_ops"},
        ),
        Index("ix_threat_events_severity", "severity", "observed_at", "id"),
        Index("ix_threat_events_score", "score", "id"),
        Index("ix_threat_events_site_observed", "site", "observed_at", "id"),
        Index("ix_threat_events_incident", "incident_id", "observed_at", "id"),
        Index(
            "ix_threat_events_reviewed",
            "observed_at",
            "id",
            postgresql_where=text("reviewed = true"),
            sqlite_where=text("reviewed = 1"),
        ),
        Index(
            "ix_threat_events_label",
            "label",
            "observed_at",
            "id",
            postgresql_where=text("label IS NOT NULL"),
            sqlite_where=text("label IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64), default="default")
    source: Mapped[str] = mapped_column(Text, default="")
    observed_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_ip: Mapped[str] = mapped_column(String(45))
    method: Mapped[str] = mapped_column(String(32), default="")
    path: Mapped[str] = mapped_column(Text, default="")
    query: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes_sent: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    referer: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(8))
    detection_mode: Mapped[str] = mapped_column(String(16), default="rules")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    matched_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    component_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    city: Mapped[str | None] = mapped_column(String(128), nullable=True)
    asn: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    as_org: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ua_family: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The incident by key only (a foreign key's per-row action, run on every day partition,
    # made pruning expired incidents take minutes); it outlives its events, see retention.
    incident_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(nullable=True)


event_rules = Table(
    "event_rules",
    Base.metadata,
    Column("event_id", BigInteger, nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("site", String(64), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("first_of_category", Boolean, nullable=False),
    Index("ix_event_rules_rule", "rule_id", "observed_at", "event_id"),
    Index(
        "ix_event_rules_category",
        "category",
        "observed_at",
        "event_id",
        postgresql_where=text("first_of_category = true"),
        sqlite_where=text("first_of_category = 1"),
    ),
    # Retention's chunked deletes where the table is not partitioned; partitions are dropped
    # whole, so on PostgreSQL a BRIN index (next to nothing per insert) is enough.
    Index("ix_event_rules_observed_at", "observed_at", postgresql_using="brin"),
)
"""The matched rules of each event as rows, so that filters by rule or category are ordered
index ranges and no read unpacks the events' JSON. One row per (event, rule); `first_of_category`
marks one row per (event, category), the rows the category index holds. An event whose
categories came without a rule (a model's verdict) has rows with an empty `rule_id`. Partitioned
like `threat_events` on PostgreSQL, and dropped with it."""


class ModelMetadata(Base):
    """A trained model: its version, metrics and artifact; at most one active per type."""

    __tablename__ = "model_metadata"
    __table_args__ = (
        UniqueConstraint("model_type", "version"),
        Index(
            "uq_model_metadata_active_type",
            "model_type",
            unique=True,
            postgresql_where=text("is_active = true"),
            sqlite_where=text("is_active = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_type: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    training_samples: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiKey(Base):
    """An API key: only its hash is stored; `prefix` finds the row without revealing the key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class IngestCheckpoint(Base):
    """Offset after the last stored line of one file identity of one source."""

    __tablename__ = "ingest_checkpoints"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    byte_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetterRow(Base):
    """A line that matched no format, kept with its origin and the reason."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("source", "file_id", "byte_offset"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(512))
    file_id: Mapped[str] = mapped_column(String(128))
    byte_offset: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(Base):
    """A block decision for an IP or CIDR, with why, who made it and until when."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_expires_at", "expires_at"),
        Index("ix_decisions_site_value", "site", "value"),
        # Deleting an expired incident sets its decisions' incident_id to NULL: found by index.
        Index("ix_decisions_incident", "incident_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # None: a decision for every site, which only an admin key for every site may make.
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    value: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(8), default="ip")
    reason: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(32), default="vigil")
    # The incident by key only; retention sets it to NULL when it deletes the incident.
    incident_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class BouncerPull(Base):
    """When a CrowdSec bouncer (one API key) last pulled the decision stream: what its next
    pull's changes are counted from, kept across restarts of vigil."""

    __tablename__ = "bouncer_pulls"

    bouncer: Mapped[str] = mapped_column(String(160), primary_key=True)
    last_pull_at: Mapped[datetime] = mapped_column()


class TrafficRollup(Base):
    """All requests of a site per minute, hour and day: counts by severity and status class,
    bytes sent and (per hour and day) a HyperLogLog sketch of the distinct clients.

    LOW requests are kept only here, not as rows. `period` is 'm', 'h' or 'd'; `bucket` the
    start of the minute, hour or day (UTC).
    """

    __tablename__ = "traffic_rollups"

    period: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    low: Mapped[int] = mapped_column(BigInteger, default=0)
    medium: Mapped[int] = mapped_column(BigInteger, default=0)
    high: Mapped[int] = mapped_column(BigInteger, default=0)
    malformed: Mapped[int] = mapped_column(BigInteger, default=0)
    dead_letters: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    status_2xx: Mapped[int] = mapped_column(BigInteger, default=0)
    status_3xx: Mapped[int] = mapped_column(BigInteger, default=0)
    status_4xx: Mapped[int] = mapped_column(BigInteger, default=0)
    status_5xx: Mapped[int] = mapped_column(BigInteger, default=0)
    status_other: Mapped[int] = mapped_column(BigInteger, default=0)
    visitors: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ThreatRollup(Base):
    """Stored events of a site per hour and day (and, for categories, per minute), counted by
    one dimension: severity, category, rule, client, path, country or status.

    Clients and paths keep the `ROLLUP_CAPS` biggest values of each bucket (the rest count in
    the bucket's total only), so that a top list over a month reads a bounded number of rows.
    """

    __tablename__ = "threat_rollups"

    period: Mapped[str] = mapped_column(String(1), primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(512), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    max_score: Mapped[float] = mapped_column(Float, default=0.0)


class AllowlistEntry(Base):
    """An address, network or user agent whose requests are never reported, until it expires.

    `site` None applies the entry to every site.
    """

    __tablename__ = "allowlist_entries"
    __table_args__ = (Index("ix_allowlist_entries_site", "site"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RuleExclusion(Base):
    """A rule switched off where it misfires: for a path prefix or regex, or one argument.

    `site` None applies the exclusion to every site.
    """

    __tablename__ = "rule_exclusions"
    __table_args__ = (Index("ix_rule_exclusions_site", "site"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    path_prefix: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    path_regex: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    argument: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteProfileRow(Base):
    """A site's learned profile (`vigil.detect.profile`), gzipped JSON, saved by `vigil serve`
    as it learns and by `vigil train --baseline --site`, restored when a pipeline starts."""

    __tablename__ = "site_profiles"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    requests: Mapped[float] = mapped_column(Float, default=0.0)
    endpoints: Mapped[int] = mapped_column(Integer, default=0)
    judging: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who changed what through the API, and when: the key's id and name (never the key), the
    action, what it acted on and on which site (None: every site or none in particular)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at_id", "at", "id"),
        Index("ix_audit_log_site_at", "site", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    key_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(512), default="")
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
