"""incidents are named by key: no foreign keys from events, decisions and campaign members

Deleting an incident made PostgreSQL run each referencing table's ON DELETE action once per
incident, and the events' on every day partition: pruning a day of 96,000 expired incidents
took 89 s (each incident's SET NULL on 30 partitions), then 2.2 s of 2.9 s in the decisions'
SET NULL and the members' CASCADE. Retention now does their work set-based, a chunk of
incidents at a time (see `vigil.db.retention`): an incident's events are never newer than its
last event, so they are gone before it is; its members go and its decisions let go of it in
the transaction that deletes it. The columns and their indexes stay.

Revision ID: 0008_incident_keys
Revises: 0007_campaigns
Create Date: 2026-12-07 02:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008_incident_keys"
down_revision: str | None = "0007_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, foreign key name, ON DELETE action it had)
KEYS = (
    ("threat_events", "fk_threat_events_incident_id_incidents", "SET NULL"),
    ("decisions", "fk_decisions_incident_id_incidents", "SET NULL"),
    ("incident_members", "fk_incident_members_incident_id_incidents", "CASCADE"),
)


def _foreign_key(with_fk: bool, name: str, ondelete: str) -> list[sa.ForeignKeyConstraint]:
    if not with_fk:
        return []
    return [sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name, ondelete=ondelete)]


def _sqlite_tables(with_fk: bool) -> dict[str, sa.Table]:
    """The three SQLite tables as they stand at revision 0007, which batch mode copies: given,
    not reflected, so that offline SQL can be made too. The events' columns are those revision
    0004 made (no revision since changed them)."""
    spec = importlib.util.spec_from_file_location(
        "scale_revision", Path(__file__).with_name("0004_scale.py")
    )
    assert spec is not None and spec.loader is not None
    scale: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    keys = {table: (name, ondelete) for table, name, ondelete in KEYS}
    ts = sa.DateTime(timezone=True)
    meta = sa.MetaData()
    events = sa.Table(
        "threat_events",
        meta,
        *scale._event_columns(partitioned=False),
        sa.PrimaryKeyConstraint("id", name="pk_threat_events"),
        sa.UniqueConstraint(
            "event_key", "observed_at", name="uq_threat_events_event_key_observed_at"
        ),
        *_foreign_key(with_fk, *keys["threat_events"]),
        sa.Index("ix_threat_events_observed_at", "observed_at", "id"),
        sa.Index("ix_threat_events_client_ip", "client_ip", "observed_at", "id"),
        sa.Index("ix_threat_events_severity", "severity", "observed_at", "id"),
        sa.Index("ix_threat_events_score", "score", "id"),
        sa.Index("ix_threat_events_site_observed", "site", "observed_at", "id"),
        sa.Index("ix_threat_events_incident", "incident_id", "observed_at", "id"),
        sa.Index(
            "ix_threat_events_reviewed", "observed_at", "id", sqlite_where=sa.text("reviewed = 1")
        ),
        sa.Index(
            "ix_threat_events_label",
            "label",
            "observed_at",
            "id",
            sqlite_where=sa.text("label IS NOT NULL"),
        ),
    )
    decisions = sa.Table(
        "decisions",
        meta,
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("simulated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=True),
        sa.Column("deleted_at", ts, nullable=True),
        *_foreign_key(with_fk, *keys["decisions"]),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.Index("ix_decisions_expires_at", "expires_at"),
        sa.Index("ix_decisions_site_value", "site", "value"),
        sa.Index("ix_decisions_incident", "incident_id"),
    )
    members = sa.Table(
        "incident_members",
        meta,
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("first_seen", ts, nullable=False),
        sa.Column("last_seen", ts, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        *_foreign_key(with_fk, *keys["incident_members"]),
        sa.PrimaryKeyConstraint("incident_id", "client_ip", name="pk_incident_members"),
    )
    return {table.name: table for table in (events, decisions, members)}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name, _ in KEYS:
            # Dropped on the partitioned events table, it goes from every partition with it.
            op.drop_constraint(name, table, type_="foreignkey")
        return
    tables = _sqlite_tables(with_fk=True)
    for table, name, _ in KEYS:
        with op.batch_alter_table(table, copy_from=tables[table]) as batch:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    # Rows naming an incident that is gone would fail the restored keys: let go of it first.
    for table, _, ondelete in KEYS:
        orphan = "incident_id NOT IN (SELECT id FROM incidents)"
        if ondelete == "CASCADE":
            op.execute(sa.text(f"DELETE FROM {table} WHERE {orphan}"))
        else:
            op.execute(sa.text(f"UPDATE {table} SET incident_id = NULL WHERE {orphan}"))
    if op.get_bind().dialect.name == "postgresql":
        for table, name, ondelete in KEYS:
            op.create_foreign_key(
                name, table, "incidents", ["incident_id"], ["id"], ondelete=ondelete
            )
        return
    tables = _sqlite_tables(with_fk=False)
    for table, name, ondelete in KEYS:
        with op.batch_alter_table(table, copy_from=tables[table]) as batch:
            batch.create_foreign_key(name, "incidents", ["incident_id"], ["id"], ondelete=ondelete)
