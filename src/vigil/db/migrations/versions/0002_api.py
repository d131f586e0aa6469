"""api: allowlist entries, rule exclusions, a client-address index for CIDR filters

Revision ID: 0002_api
Revises: 0001
Create Date: 2026-11-23 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_api"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Same index, with an operator class that also serves prefix LIKE (CIDR filters).
        op.drop_index("ix_threat_events_client_ip", table_name="threat_events")
        op.create_index(
            "ix_threat_events_client_ip",
            "threat_events",
            ["client_ip"],
            postgresql_ops={"client_ip": "text_pattern_ops"},
        )
    op.create_table(
        "allowlist_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allowlist_entries")),
    )
    with op.batch_alter_table("allowlist_entries", schema=None) as batch_op:
        batch_op.create_index("ix_allowlist_entries_site", ["site"], unique=False)

    op.create_table(
        "rule_exclusions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("path_prefix", sa.String(length=1024), nullable=True),
        sa.Column("path_regex", sa.String(length=1024), nullable=True),
        sa.Column("argument", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_exclusions")),
    )
    with op.batch_alter_table("rule_exclusions", schema=None) as batch_op:
        batch_op.create_index("ix_rule_exclusions_site", ["site"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rule_exclusions", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_exclusions_site")

    op.drop_table("rule_exclusions")
    with op.batch_alter_table("allowlist_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_allowlist_entries_site")

    op.drop_table("allowlist_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_threat_events_client_ip", table_name="threat_events")
        op.create_index("ix_threat_events_client_ip", "threat_events", ["client_ip"])
