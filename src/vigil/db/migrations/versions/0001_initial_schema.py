"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:01:19.331212
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("file_id", sa.String(length=128), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint(
            "source",
            "file_id",
            "byte_offset",
            name=op.f("uq_dead_letters_source_file_id_byte_offset"),
        ),
    )
    op.create_table(
        "incidents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("top_severity", sa.String(length=8), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_last_seen", ["last_seen"], unique=False)
        batch_op.create_index(
            "ix_incidents_site_client_last", ["site", "client_ip", "last_seen"], unique=False
        )

    op.create_table(
        "ingest_checkpoints",
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("file_id", sa.String(length=128), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "file_id", name=op.f("pk_ingest_checkpoints")),
    )
    op.create_table(
        "model_metadata",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("model_type", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("training_samples", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_metadata")),
        sa.UniqueConstraint(
            "model_type", "version", name=op.f("uq_model_metadata_model_type_version")
        ),
    )
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_metadata_active_type",
            ["model_type"],
            unique=True,
            postgresql_where=sa.text("is_active = true"),
            sqlite_where=sa.text("is_active = 1"),
        )

    op.create_table(
        "sites",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("paranoia_level", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_sites_name")),
    )
    op.create_table(
        "decisions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("simulated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_decisions_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_expires_at", ["expires_at"], unique=False)
        batch_op.create_index("ix_decisions_site_value", ["site", "value"], unique=False)

    op.create_table(
        "threat_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reviewed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_threat_events_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threat_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_threat_events_event_key")),
    )
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

    op.create_table(
        "traffic_counters",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("medium", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("malformed", sa.BigInteger(), nullable=False),
        sa.Column("dead_letters", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site", "bucket", name=op.f("pk_traffic_counters")),
    )


def downgrade() -> None:
    op.drop_table("traffic_counters")
    with op.batch_alter_table("threat_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_threat_events_unreviewed",
            postgresql_where=sa.text("reviewed = false"),
            sqlite_where=sa.text("reviewed = 0"),
        )
        batch_op.drop_index("ix_threat_events_site_observed")
        batch_op.drop_index("ix_threat_events_severity")
        batch_op.drop_index("ix_threat_events_score")
        batch_op.drop_index("ix_threat_events_observed_at")
        batch_op.drop_index("ix_threat_events_incident")
        batch_op.drop_index("ix_threat_events_client_ip")

    op.drop_table("threat_events")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_site_value")
        batch_op.drop_index("ix_decisions_expires_at")

    op.drop_table("decisions")
    op.drop_table("sites")
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_model_metadata_active_type",
            postgresql_where=sa.text("is_active = true"),
            sqlite_where=sa.text("is_active = 1"),
        )

    op.drop_table("model_metadata")
    op.drop_table("ingest_checkpoints")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_site_client_last")
        batch_op.drop_index("ix_incidents_last_seen")

    op.drop_table("incidents")
    op.drop_table("dead_letters")
    op.drop_table("api_keys")
