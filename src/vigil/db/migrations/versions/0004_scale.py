"""scale: events partitioned by day (PostgreSQL), matched rules as rows, rollup tables, indexes
for every filter in keyset order

Revision ID: 0004_scale
Revises: 0003_bouncers
Create Date: 2026-12-06 20:00:00.000000

The events table is rebuilt: on PostgreSQL as a table partitioned by day of `observed_at` (whose
keys must hold the partition column: primary key (id, observed_at), event key unique with
observed_at), on SQLite as the same table with the new indexes. Existing events are copied, their
matched rules written as `event_rules` rows, and the rollups built from them once; the hourly
`traffic_counters` become the hourly and daily rows of `traffic_rollups`.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004_scale"
down_revision: str | None = "0003_bouncers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Caps of the rollups' top lists when the migration built them (the store keeps its own).
CAPS = {"client": 100, "path": 100, "rule": 500}

EVENT_COLUMNS = (
    "id, event_key, site, source, observed_at, created_at, client_ip, method, path, query, "
    "status, bytes_sent, user_agent, referer, score, severity, detection_mode, categories, "
    "matched_rules, component_scores, country, city, asn, as_org, ua_family, client_class, "
    "model_version, incident_id, reviewed, label, review_note, reviewed_at"
)
OLD_INDEXES = (
    "ix_threat_events_client_ip",
    "ix_threat_events_incident",
    "ix_threat_events_observed_at",
    "ix_threat_events_score",
    "ix_threat_events_severity",
    "ix_threat_events_site_observed",
    "ix_threat_events_unreviewed",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _event_columns(partitioned: bool) -> list[sa.Column]:  # type: ignore[type-arg]
    ts = sa.DateTime(timezone=True)
    id_column = (
        sa.Column(
            "id",
            sa.BigInteger(),
            server_default=sa.text("nextval('threat_events_id_seq')"),
            nullable=False,
        )
        if partitioned
        else sa.Column("id", BigId, autoincrement=True, nullable=False)
    )
    return [
        id_column,
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("observed_at", ts, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("referer", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("detection_mode", sa.String(length=16), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("matched_rules", sa.JSON(), nullable=False),
        sa.Column("component_scores", sa.JSON(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("as_org", sa.String(length=255), nullable=True),
        sa.Column("ua_family", sa.String(length=64), nullable=True),
        sa.Column("client_class", sa.String(length=16), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("reviewed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", ts, nullable=True),
    ]


def _partitioning(partitioned: bool) -> dict[str, Any]:
    return {"postgresql_partition_by": "RANGE (observed_at)"} if partitioned else {}


def _create_events(partitioned: bool) -> None:
    keys = ["id", "observed_at"] if partitioned else ["id"]
    op.create_table(
        "threat_events",
        *_event_columns(partitioned),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_threat_events_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(*keys, name=op.f("pk_threat_events")),
        sa.UniqueConstraint(
            "event_key", "observed_at", name=op.f("uq_threat_events_event_key_observed_at")
        ),
        **_partitioning(partitioned),
    )
    op.create_index("ix_threat_events_observed_at", "threat_events", ["observed_at", "id"])
    op.create_index(
        "ix_threat_events_client_ip",
        "threat_events",
        ["client_ip", "observed_at", "id"],
        postgresql_ops={"client_ip": "text_pattern_ops"},
    )
    op.create_index("ix_threat_events_severity", "threat_events", ["severity", "observed_at", "id"])
    op.create_index("ix_threat_events_score", "threat_events", ["score", "id"])
    op.create_index(
        "ix_threat_events_site_observed", "threat_events", ["site", "observed_at", "id"]
    )
    op.create_index(
        "ix_threat_events_incident", "threat_events", ["incident_id", "observed_at", "id"]
    )
    op.create_index(
        "ix_threat_events_reviewed",
        "threat_events",
        ["observed_at", "id"],
        postgresql_where=sa.text("reviewed = true"),
        sqlite_where=sa.text("reviewed = 1"),
    )
    op.create_index(
        "ix_threat_events_label",
        "threat_events",
        ["label", "observed_at", "id"],
        postgresql_where=sa.text("label IS NOT NULL"),
        sqlite_where=sa.text("label IS NOT NULL"),
    )
    op.create_table(
        "event_rules",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("first_of_category", sa.Boolean(), nullable=False),
        **_partitioning(partitioned),
    )
    op.create_index("ix_event_rules_rule", "event_rules", ["rule_id", "observed_at", "event_id"])
    op.create_index(
        "ix_event_rules_category",
        "event_rules",
        ["category", "observed_at", "event_id"],
        postgresql_where=sa.text("first_of_category = true"),
        sqlite_where=sa.text("first_of_category = 1"),
    )
    op.create_index("ix_event_rules_observed_at", "event_rules", ["observed_at"])


def _create_day_partitions() -> None:
    """One partition a day for the days the copied events fall on (PostgreSQL); one DO block,
    so that the offline SQL script does the same."""
    op.execute(
        """
        DO $$
        DECLARE
            day date;
            t text;
        BEGIN
            FOR day IN
                SELECT DISTINCT (observed_at AT TIME ZONE 'UTC')::date FROM threat_events_old
            LOOP
                FOREACH t IN ARRAY ARRAY['threat_events', 'event_rules'] LOOP
                    EXECUTE format(
                        'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                        t || '_p' || to_char(day, 'YYYYMMDD'), t,
                        (day::timestamp AT TIME ZONE 'UTC'),
                        ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                END LOOP;
            END LOOP;
        END $$
        """
    )


def _rule_rows_sql(postgres: bool) -> str:
    if postgres:
        matched = (
            "SELECT DISTINCT e.id, e.observed_at, e.site, "
            "left(coalesce(r.value->>'rule_id', ''), 64) AS rule_id, "
            "left(coalesce(r.value->>'category', ''), 32) AS category "
            "FROM threat_events e CROSS JOIN LATERAL json_array_elements(e.matched_rules) r"
        )
        bare = (
            "SELECT e.id, e.observed_at, e.site, '' AS rule_id, left(c.value, 32) AS category "
            "FROM threat_events e CROSS JOIN LATERAL json_array_elements_text(e.categories) c "
            "WHERE NOT EXISTS (SELECT 1 FROM json_array_elements(e.matched_rules) r "
            "WHERE r.value->>'category' = c.value)"
        )
    else:
        matched = (
            "SELECT DISTINCT e.id, e.observed_at, e.site, "
            "substr(coalesce(json_extract(r.value, '$.rule_id'), ''), 1, 64) AS rule_id, "
            "substr(coalesce(json_extract(r.value, '$.category'), ''), 1, 32) AS category "
            "FROM threat_events e, json_each(e.matched_rules) r"
        )
        bare = (
            "SELECT e.id, e.observed_at, e.site, '' AS rule_id, substr(c.value, 1, 32) "
            "AS category FROM threat_events e, json_each(e.categories) c "
            "WHERE NOT EXISTS (SELECT 1 FROM json_each(e.matched_rules) r "
            "WHERE json_extract(r.value, '$.category') = c.value)"
        )
    return (
        "INSERT INTO event_rules (event_id, observed_at, site, rule_id, category, "
        "first_of_category) SELECT id, observed_at, site, rule_id, category, "
        "row_number() OVER (PARTITION BY id, category ORDER BY rule_id) = 1 "
        f"FROM ({matched} UNION ALL {bare}) s"
    )


def _create_rollups() -> None:
    ts = sa.DateTime(timezone=True)
    counters = [
        sa.Column(name, sa.BigInteger(), nullable=False)
        for name in (
            "requests",
            "low",
            "medium",
            "high",
            "malformed",
            "dead_letters",
            "bytes_sent",
            "status_2xx",
            "status_3xx",
            "status_4xx",
            "status_5xx",
            "status_other",
        )
    ]
    op.create_table(
        "traffic_rollups",
        sa.Column("period", sa.String(length=1), nullable=False),
        sa.Column("bucket", ts, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        *counters,
        sa.Column("visitors", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("period", "bucket", "site", name=op.f("pk_traffic_rollups")),
    )
    op.create_table(
        "threat_rollups",
        sa.Column("period", sa.String(length=1), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("bucket", ts, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "dim", "bucket", "site", "value", name=op.f("pk_threat_rollups")
        ),
    )


def _truncate(postgres: bool, column: str, period: str) -> str:
    unit = {"m": "minute", "h": "hour", "d": "day"}[period]
    if postgres:
        return f"date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    pattern = {"m": "%Y-%m-%d %H:%M:00.000000", "h": "%Y-%m-%d %H:00:00.000000"}.get(
        period, "%Y-%m-%d 00:00:00.000000"
    )
    return f"strftime('{pattern}', {column})"


def _backfill_rollups(postgres: bool) -> None:
    sources = {
        "severity": ("threat_events", "severity", "score", ""),
        "client": ("threat_events", "client_ip", "score", ""),
        "path": ("threat_events", "substr(path, 1, 512)", "score", ""),
        "country": ("threat_events", "country", "score", "country IS NOT NULL"),
        "status": ("threat_events", "CAST(status AS VARCHAR)", "score", "status IS NOT NULL"),
        "rule": ("event_rules", "rule_id", "0.0", "rule_id <> ''"),
        "category": ("event_rules", "category", "0.0", "first_of_category"),
    }
    for dim, (table, value, score, where) in sources.items():
        periods = ("m", "h", "d") if dim == "category" else ("h", "d")
        for period in periods:
            bucket = _truncate(postgres, "observed_at", period)
            grouped = (
                f"SELECT '{period}' AS period, '{dim}' AS dim, {bucket} AS bucket, site, "
                f"{value} AS value, count(*) AS events, max({score}) AS max_score FROM {table} "
                f"{'WHERE ' + where if where else ''} GROUP BY 3, 4, 5"
            )
            cap = CAPS.get(dim)
            if cap is not None:
                grouped = (
                    "SELECT period, dim, bucket, site, value, events, max_score FROM ("
                    "SELECT g.*, row_number() OVER (PARTITION BY bucket, site "
                    f"ORDER BY events DESC, value) AS rank FROM ({grouped}) g) r "
                    f"WHERE rank <= {cap}"
                )
            op.execute(
                "INSERT INTO threat_rollups (period, dim, bucket, site, value, events, "
                f"max_score) {grouped}"
            )
    names = "requests, low, medium, high, malformed, dead_letters"
    zeros = "0, 0, 0, 0, 0, 0"
    for period in ("h", "d"):
        bucket = _truncate(postgres, "bucket", period)
        sums = ", ".join(f"sum({name})" for name in names.split(", "))
        op.execute(
            f"INSERT INTO traffic_rollups (period, bucket, site, {names}, bytes_sent, "
            f"status_2xx, status_3xx, status_4xx, status_5xx, status_other) "
            f"SELECT '{period}', {bucket}, site, {sums}, {zeros} FROM traffic_counters "
            "GROUP BY 2, 3"
        )


def upgrade() -> None:
    postgres = _postgres()
    for name in OLD_INDEXES:
        op.drop_index(name, table_name="threat_events")
    op.rename_table("threat_events", "threat_events_old")
    if postgres:
        op.execute("ALTER TABLE threat_events_old RENAME CONSTRAINT pk_threat_events TO pk_te_old")
        op.execute(
            "ALTER TABLE threat_events_old RENAME CONSTRAINT uq_threat_events_event_key "
            "TO uq_te_old"
        )
        op.execute(
            "ALTER TABLE threat_events_old RENAME CONSTRAINT "
            "fk_threat_events_incident_id_incidents TO fk_te_old"
        )
        op.execute("ALTER TABLE threat_events_old ALTER COLUMN id DROP DEFAULT")
        op.execute("ALTER SEQUENCE threat_events_id_seq OWNED BY NONE")
    _create_events(partitioned=postgres)
    if postgres:
        op.execute("ALTER SEQUENCE threat_events_id_seq OWNED BY threat_events.id")
        _create_day_partitions()
    op.execute(
        f"INSERT INTO threat_events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM threat_events_old"
    )
    op.drop_table("threat_events_old")
    op.execute(_rule_rows_sql(postgres))

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_last_seen")
        batch_op.create_index("ix_incidents_last_seen", ["last_seen", "id"], unique=False)
        batch_op.create_index(
            "ix_incidents_site_last_seen", ["site", "last_seen", "id"], unique=False
        )
        batch_op.create_index(
            "ix_incidents_status_last_seen", ["status", "last_seen", "id"], unique=False
        )
        batch_op.create_index(
            "ix_incidents_severity_last_seen", ["top_severity", "last_seen", "id"], unique=False
        )
        batch_op.create_index(
            "ix_incidents_client_last_seen",
            ["client_ip", "last_seen", "id"],
            unique=False,
            postgresql_ops={"client_ip": "text_pattern_ops"},
        )

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_incident", ["incident_id"], unique=False)

    _create_rollups()
    _backfill_rollups(postgres)
    op.drop_table("traffic_counters")


def downgrade() -> None:
    postgres = _postgres()
    op.create_table(
        "traffic_counters",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        *[
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in ("requests", "low", "medium", "high", "malformed", "dead_letters")
        ],
        sa.PrimaryKeyConstraint("site", "bucket", name=op.f("pk_traffic_counters")),
    )
    op.execute(
        "INSERT INTO traffic_counters (site, bucket, requests, low, medium, high, malformed, "
        "dead_letters) SELECT site, bucket, requests, low, medium, high, malformed, "
        "dead_letters FROM traffic_rollups WHERE period = 'h'"
    )
    op.drop_table("threat_rollups")
    op.drop_table("traffic_rollups")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_incident")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_client_last_seen")
        batch_op.drop_index("ix_incidents_severity_last_seen")
        batch_op.drop_index("ix_incidents_status_last_seen")
        batch_op.drop_index("ix_incidents_site_last_seen")
        batch_op.drop_index("ix_incidents_last_seen")
        batch_op.create_index("ix_incidents_last_seen", ["last_seen"], unique=False)

    op.drop_table("event_rules")
    op.rename_table("threat_events", "threat_events_new")
    for name in (
        "ix_threat_events_observed_at",
        "ix_threat_events_client_ip",
        "ix_threat_events_severity",
        "ix_threat_events_score",
        "ix_threat_events_site_observed",
        "ix_threat_events_incident",
        "ix_threat_events_reviewed",
        "ix_threat_events_label",
    ):
        op.drop_index(name, table_name="threat_events_new")
    if postgres:
        op.execute("ALTER TABLE threat_events_new RENAME CONSTRAINT pk_threat_events TO pk_te_new")
        op.execute(
            "ALTER TABLE threat_events_new RENAME CONSTRAINT "
            "uq_threat_events_event_key_observed_at TO uq_te_new"
        )
        op.execute(
            "ALTER TABLE threat_events_new RENAME CONSTRAINT "
            "fk_threat_events_incident_id_incidents TO fk_te_new"
        )
        op.execute("ALTER TABLE threat_events_new ALTER COLUMN id DROP DEFAULT")
        op.execute("ALTER SEQUENCE threat_events_id_seq OWNED BY NONE")
    op.create_table(
        "threat_events",
        *_event_columns(partitioned=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_threat_events_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threat_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_threat_events_event_key")),
    )
    if postgres:
        # The new table made a sequence of its own; ids continue from the partitioned one's.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('threat_events', 'id'), "
            "greatest((SELECT last_value FROM threat_events_id_seq), 1))"
        )
    op.execute(
        f"INSERT INTO threat_events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM threat_events_new"
    )
    op.drop_table("threat_events_new")
    if postgres:
        op.execute("DROP SEQUENCE IF EXISTS threat_events_id_seq")
        op.execute("ALTER SEQUENCE IF EXISTS threat_events_id_seq1 RENAME TO threat_events_id_seq")
    with op.batch_alter_table("threat_events", schema=None) as batch_op:
        batch_op.create_index("ix_threat_events_client_ip", ["client_ip"], unique=False)
        batch_op.create_index("ix_threat_events_incident", ["incident_id"], unique=False)
        batch_op.create_index("ix_threat_events_observed_at", ["observed_at"], unique=False)
        batch_op.create_index("ix_threat_events_score", ["score"], unique=False)
        batch_op.create_index("ix_threat_events_severity", ["severity"], unique=False)
        batch_op.create_index(
            "ix_threat_events_site_observed", ["site", "observed_at"], unique=False
        )
        batch_op.create_index(
            "ix_threat_events_unreviewed",
            ["observed_at"],
            unique=False,
            postgresql_where=sa.text("reviewed = false"),
            sqlite_where=sa.text("reviewed = 0"),
        )
    if postgres:
        op.execute("DROP INDEX ix_threat_events_client_ip")
        op.create_index(
            "ix_threat_events_client_ip",
            "threat_events",
            ["client_ip"],
            postgresql_ops={"client_ip": "text_pattern_ops"},
        )
