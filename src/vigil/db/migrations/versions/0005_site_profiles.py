"""site profiles: each site's learned profile of endpoints, parameters and values

Revision ID: 0005_site_profiles
Revises: 0004_scale
Create Date: 2026-12-06 23:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_site_profiles"
down_revision: str | None = "0004_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_profiles",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("requests", sa.Float(), nullable=False),
        sa.Column("endpoints", sa.Integer(), nullable=False),
        sa.Column("judging", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_site_profiles")),
    )


def downgrade() -> None:
    op.drop_table("site_profiles")
