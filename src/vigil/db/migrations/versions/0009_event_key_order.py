"""the events' unique key leads with observed_at: its inserts land at the end of the index

The key (event_key, observed_at) put each new event at a random place of its day's index,
since event keys are hashes: a flood's inserts touched a different leaf page for nearly every
row, and that one index cost the server as much CPU as four of the others together
(0.95 s per 200,000 events against 0.1-0.5 s each). (observed_at, event_key) holds the same
pairs, so it enforces the same uniqueness, and a log written in time order appends to it. The
store looks keys up within the time span of the batch it checks, which this index serves.

Revision ID: 0009_event_key_order
Revises: 0008_incident_keys
Create Date: 2026-12-07 08:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009_event_key_order"
down_revision: str | None = "0008_incident_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("uq_threat_events_event_key_observed_at", ["event_key", "observed_at"])
NEW = ("uq_threat_events_observed_at_event_key", ["observed_at", "event_key"])


def _sqlite_events() -> sa.Table:
    """The SQLite events table as it stands at revision 0008 (as that revision describes it,
    without foreign keys), which batch mode copies: given, not reflected, so that offline SQL
    can be made too."""
    spec = importlib.util.spec_from_file_location(
        "incident_keys_revision", Path(__file__).with_name("0008_incident_keys.py")
    )
    assert spec is not None and spec.loader is not None
    keys: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(keys)
    table: sa.Table = keys._sqlite_tables(with_fk=False)["threat_events"]
    return table


def _swap(drop: tuple[str, list[str]], create: tuple[str, list[str]]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # On the partitioned table: each day partition's index goes and comes with it.
        op.drop_constraint(drop[0], "threat_events", type_="unique")
        op.create_unique_constraint(create[0], "threat_events", create[1])
        return
    copy = _sqlite_events()
    if drop is NEW:
        # The table as upgrade() left it: the new key in place of the old one.
        for constraint in list(copy.constraints):
            if isinstance(constraint, sa.UniqueConstraint):
                copy.constraints.remove(constraint)
        copy.append_constraint(sa.UniqueConstraint(*NEW[1], name=NEW[0]))
    with op.batch_alter_table("threat_events", copy_from=copy) as batch:
        batch.drop_constraint(drop[0], type_="unique")
        batch.create_unique_constraint(create[0], create[1])


def upgrade() -> None:
    _swap(OLD, NEW)


def downgrade() -> None:
    _swap(NEW, OLD)
