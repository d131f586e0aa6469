"""Block decisions as the API shows them: the active blocklist, manual blocks and unblocks."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import Decision
from vigil.services.visibility import Visibility
from vigil.sinks.blocklist import active_clause

MAX_BLOCKLIST = 100_000


async def active_blocklist(
    session: AsyncSession,
    visible: Visibility,
    *,
    site: str | None = None,
    now: datetime | None = None,
    limit: int = MAX_BLOCKLIST,
) -> list[Decision]:
    """Decisions in force (unexpired, undeleted, not simulated) on visible sites, newest first;
    the decisions for every site are in force on each of them."""
    now = now or datetime.now(UTC)
    stmt = select(Decision).where(
        or_(visible.clause(Decision.site), Decision.site.is_(None)),
        active_clause(now),
        Decision.simulated.is_(False),
    )
    if site is not None:
        stmt = stmt.where(or_(Decision.site == site, Decision.site.is_(None)))
    stmt = stmt.order_by(Decision.created_at.desc(), Decision.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


def too_wide(value: str, *, v4: int, v6: int) -> str | None:
    """The widest allowed network (e.g. '/16') when `value` is wider than it, else None."""
    network = ipaddress.ip_network(value.strip(), strict=False)
    limit = v4 if network.version == 4 else v6
    return f"/{limit}" if network.prefixlen < limit else None


def normalize_value(value: str) -> tuple[str, str]:
    """The canonical text of an address or CIDR and its scope ('ip' or 'range')."""
    network = ipaddress.ip_network(value.strip(), strict=False)
    if network.num_addresses == 1:
        return str(network.network_address), "ip"
    return str(network), "range"


async def create_decision(
    session: AsyncSession,
    *,
    site: str | None,
    value: str,
    reason: str,
    duration: timedelta | None,
    origin: str = "api",
    now: datetime | None = None,
) -> Decision:
    """A manual block (`site` None: on every site); raises ValueError when `value` is not an
    address or CIDR."""
    now = now or datetime.now(UTC)
    canonical, scope = normalize_value(value)
    decision = Decision(
        site=site,
        value=canonical,
        scope=scope,
        reason=reason,
        origin=origin,
        simulated=False,
        created_at=now,
        expires_at=now + duration if duration is not None else None,
    )
    session.add(decision)
    await session.flush()
    return decision


async def delete_decision(
    session: AsyncSession, visible: Visibility, decision_id: int, *, now: datetime | None = None
) -> Decision | None:
    """Lift a visible decision (kept, marked deleted); None if not visible or already lifted."""
    stmt = select(Decision).where(
        Decision.id == decision_id,
        visible.clause(Decision.site),
        Decision.deleted_at.is_(None),
    )
    decision = (await session.scalars(stmt)).one_or_none()
    if decision is None:
        return None
    decision.deleted_at = now or datetime.now(UTC)
    await session.flush()
    return decision
