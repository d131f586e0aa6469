"""Allowlist entries and rule exclusions stored in the database, and the form the pipeline takes.

An entry belongs to one site, or to every site when its site is None. The pipeline receives the
entries of one site at a time (`pipeline_rules`), so a change is applied to the running
detectors without a restart.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import AllowlistEntry, RuleExclusion
from vigil.detect.patterns import compile_linear
from vigil.services.visibility import Visibility

AllowKind = Literal["ip", "cidr", "user_agent"]


def normalize_entry(kind: AllowKind, value: str) -> str:
    """The canonical value of an entry; raises ValueError saying what is wrong."""
    value = value.strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("value must be an IP address for kind 'ip'") from None
    if kind == "cidr":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError("value must be a CIDR such as 10.0.0.0/8 for kind 'cidr'") from None
    if not value:
        raise ValueError("value must not be empty")
    return value


def check_regex(pattern: str) -> str:
    """`pattern` if the linear-time engine the pipeline runs it with takes it; raises
    ValueError (a PatternError) saying why not."""
    compile_linear(pattern, ignore_case=True, what="path_regex")
    return pattern


def _unexpired(now: datetime) -> ColumnElement[bool]:
    return or_(AllowlistEntry.expires_at.is_(None), AllowlistEntry.expires_at > now)


def _site_is(column: Any, site: str | None) -> ColumnElement[bool]:
    return column.is_(None) if site is None else column == site  # type: ignore[no-any-return]


async def list_allowlist(
    session: AsyncSession,
    visible: Visibility,
    *,
    site: str | None = None,
    include_expired: bool = False,
    now: datetime | None = None,
) -> list[AllowlistEntry]:
    """Visible allowlist entries, newest first."""
    # A restricted caller's `IN (...)` never matches NULL: all-site entries are not its own.
    stmt = select(AllowlistEntry).where(visible.clause(AllowlistEntry.site))
    if site is not None:
        stmt = stmt.where(AllowlistEntry.site == site)
    if not include_expired:
        stmt = stmt.where(_unexpired(now or datetime.now(UTC)))
    stmt = stmt.order_by(AllowlistEntry.id.desc())
    return list((await session.scalars(stmt)).all())


async def add_allowlist(
    session: AsyncSession,
    *,
    site: str | None,
    kind: AllowKind,
    value: str,
    reason: str,
    expires_at: datetime | None,
    created_by: str,
) -> AllowlistEntry:
    """Store an entry; raises ValueError for a value that does not fit its kind."""
    entry = AllowlistEntry(
        site=site,
        kind=kind,
        value=normalize_entry(kind, value),
        reason=reason,
        expires_at=expires_at,
        created_by=created_by,
        created_at=datetime.now(UTC),
    )
    session.add(entry)
    await session.flush()
    return entry


async def delete_allowlist(
    session: AsyncSession, visible: Visibility, entry_id: int
) -> AllowlistEntry | None:
    """Remove a visible entry; returns it, or None if there is no such visible entry."""
    stmt = select(AllowlistEntry).where(
        AllowlistEntry.id == entry_id, visible.clause(AllowlistEntry.site)
    )
    entry = (await session.scalars(stmt)).one_or_none()
    if entry is not None:
        await session.delete(entry)
        await session.flush()
    return entry


async def list_exclusions(
    session: AsyncSession, visible: Visibility, *, site: str | None = None
) -> list[RuleExclusion]:
    """Visible rule exclusions, newest first."""
    stmt = select(RuleExclusion).where(visible.clause(RuleExclusion.site))
    if site is not None:
        stmt = stmt.where(RuleExclusion.site == site)
    return list((await session.scalars(stmt.order_by(RuleExclusion.id.desc()))).all())


async def add_exclusion(
    session: AsyncSession,
    *,
    site: str | None,
    rule_id: str,
    path_prefix: str | None,
    path_regex: str | None,
    argument: str | None,
    reason: str,
    created_by: str,
) -> RuleExclusion:
    """Store an exclusion; raises ValueError for a regex that does not compile."""
    exclusion = RuleExclusion(
        site=site,
        rule_id=rule_id,
        path_prefix=path_prefix,
        path_regex=check_regex(path_regex) if path_regex is not None else None,
        argument=argument,
        reason=reason,
        created_by=created_by,
        created_at=datetime.now(UTC),
    )
    session.add(exclusion)
    await session.flush()
    return exclusion


async def delete_exclusion(
    session: AsyncSession, visible: Visibility, exclusion_id: int
) -> RuleExclusion | None:
    """Remove a visible exclusion; returns it, or None if there is no such visible one."""
    stmt = select(RuleExclusion).where(
        RuleExclusion.id == exclusion_id, visible.clause(RuleExclusion.site)
    )
    exclusion = (await session.scalars(stmt)).one_or_none()
    if exclusion is not None:
        await session.delete(exclusion)
        await session.flush()
    return exclusion


def allowlist_dict(entry: AllowlistEntry) -> dict[str, Any]:
    """An allowlist entry as the pipeline takes it."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "value": entry.value,
        "reason": entry.reason,
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
    }


def exclusion_dict(exclusion: RuleExclusion) -> dict[str, Any]:
    """A rule exclusion as the pipeline takes it."""
    return {
        "id": exclusion.id,
        "rule_id": exclusion.rule_id,
        "path_prefix": exclusion.path_prefix,
        "path_regex": exclusion.path_regex,
        "argument": exclusion.argument,
        "reason": exclusion.reason,
    }


async def pipeline_rules(
    session: AsyncSession, site: str | None, *, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(exclusions, allowlist) of exactly `site` (None: the all-sites entries), unexpired."""
    now = now or datetime.now(UTC)
    exclusions = await session.scalars(
        select(RuleExclusion).where(_site_is(RuleExclusion.site, site)).order_by(RuleExclusion.id)
    )
    entries = await session.scalars(
        select(AllowlistEntry)
        .where(_site_is(AllowlistEntry.site, site), _unexpired(now))
        .order_by(AllowlistEntry.id)
    )
    return [exclusion_dict(e) for e in exclusions], [allowlist_dict(e) for e in entries]


async def stored_controls(
    session: AsyncSession,
) -> list[tuple[str | None, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(site, exclusions, allowlist) of every site that has entries (None: all-sites ones)."""
    return [
        (site, *await pipeline_rules(session, site)) for site in await configured_sites(session)
    ]


async def configured_sites(session: AsyncSession) -> list[str | None]:
    """Every site that has entries or exclusions, with None for the all-sites ones."""
    names: set[str | None] = {None}
    names.update(await session.scalars(select(AllowlistEntry.site).distinct()))
    names.update(await session.scalars(select(RuleExclusion.site).distinct()))
    return sorted(names, key=lambda n: (n is not None, n or ""))
