"""campaigns: an incident may be a campaign across clients (its target and explanation), and
its members are rows of incident_members

Revision ID: 0007_campaigns
Revises: 0006_audit
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_campaigns"
down_revision: str | None = "0006_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("incidents", sa.Column("campaign", sa.String(length=255), nullable=True))
    op.add_column("incidents", sa.Column("summary", sa.Text(), nullable=True))
    op.create_index("ix_incidents_site_campaign", "incidents", ["site", "campaign", "last_seen"])
    op.create_table(
        "incident_members",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_members_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "client_ip", name=op.f("pk_incident_members")),
    )


def downgrade() -> None:
    op.drop_table("incident_members")
    op.drop_index("ix_incidents_site_campaign", table_name="incidents")
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_column("summary")
        batch_op.drop_column("campaign")
