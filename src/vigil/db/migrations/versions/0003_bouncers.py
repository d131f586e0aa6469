"""bouncers: each bouncer's last pull of the decision stream; decisions for every site

Revision ID: 0003_bouncers
Revises: 0002_api
Create Date: 2026-12-06 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_bouncers"
down_revision: str | None = "0002_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _decisions(site_nullable: bool) -> sa.Table:
    """The decisions table as it stands before the change, so SQLite's batch mode can copy it
    without reflecting it (offline SQL scripts have no database to reflect)."""
    return sa.Table(
        "decisions",
        sa.MetaData(),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=site_nullable),
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
            name="fk_decisions_incident_id_incidents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.Index("ix_decisions_expires_at", "expires_at"),
        sa.Index("ix_decisions_site_value", "site", "value"),
    )


def upgrade() -> None:
    op.create_table(
        "bouncer_pulls",
        sa.Column("bouncer", sa.String(length=160), nullable=False),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bouncer", name=op.f("pk_bouncer_pulls")),
    )
    with op.batch_alter_table("decisions", copy_from=_decisions(False)) as batch_op:
        batch_op.alter_column("site", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # Decisions for every site have no site to go back to: they are removed.
    op.execute(sa.text("DELETE FROM decisions WHERE site IS NULL"))
    with op.batch_alter_table("decisions", copy_from=_decisions(True)) as batch_op:
        batch_op.alter_column("site", existing_type=sa.String(length=64), nullable=False)
    op.drop_table("bouncer_pulls")
