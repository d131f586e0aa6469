"""the rules' time index is a BRIN index on PostgreSQL

`ix_event_rules_observed_at` serves retention's chunked deletes where `event_rules` is not
partitioned (SQLite, or a schema made without partitions). On partitioned PostgreSQL retention
drops whole days and no query reads the rules by time alone, yet every rule row (3.4 per stored
event in a flood) went into that B-tree: 2 µs of server CPU per event. A BRIN index, a few
pages per day, still serves a time-bounded delete and costs next to nothing per insert.
SQLite keeps its B-tree.

Revision ID: 0010_event_rules_brin
Revises: 0009_event_key_order
Create Date: 2026-12-07 08:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_event_rules_brin"
down_revision: str | None = "0009_event_key_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_event_rules_observed_at"


def _rebuild(using: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # On the partitioned table: each day partition's index goes and comes with it.
    op.drop_index(NAME, table_name="event_rules")
    op.create_index(NAME, "event_rules", ["observed_at"], postgresql_using=using)


def upgrade() -> None:
    _rebuild("brin")


def downgrade() -> None:
    _rebuild("btree")
