"""Decisions as CrowdSec's Local API serves them to bouncers.

The stream (`GET /v1/decisions/stream`) behaves as CrowdSec's does:

- a start-up pull (or a bouncer's first) sends every active decision, one per address: the one
  that lasts longest;
- a later pull sends, per address, the longest active decision of every address that got a
  new decision since that bouncer's last pull, and in `deleted` the addresses whose decisions
  ended since then (lifted or expired) and that no active decision covers any more;
- each bouncer's last pull is stored in the database (`bouncer_pulls`), so a restart of vigil,
  or another vigil process behind the same address, changes nothing for the bouncer.

Durations are capped at `MAX_BOUNCER_DURATION`: ipset, which most firewall bouncers use, takes
timeouts up to 2,147,483 s (about 24.8 days), and an entry it cannot add is an address left
unblocked. A decision that lasts longer (or has no expiry) is sent again every half of the cap,
so a bouncer that keeps pulling never lets it time out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.db.models import BouncerPull, Decision
from vigil.sinks.blocklist import active_clause

MAX_BOUNCER_DURATION = timedelta(hours=576)
REFRESH_EVERY = MAX_BOUNCER_DURATION / 2
# A decision is stamped before its transaction commits; a pull in between must not make the
# next pull miss it. Changes this recent are sent again (a repeat is harmless to a bouncer).
OVERLAP = timedelta(seconds=5)
SCOPES = {"ip": "Ip", "range": "Range"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """The filters a bouncer may send: scopes, origins and scenario substrings (all caseless)."""

    scopes: frozenset[str] | None = None
    origins: frozenset[str] | None = None
    scenarios_containing: tuple[str, ...] = ()
    scenarios_not_containing: tuple[str, ...] = ()
    value: str | None = None
    decision_type: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        scopes: str | None = None,
        origins: str | None = None,
        scenarios_containing: str | None = None,
        scenarios_not_containing: str | None = None,
        value: str | None = None,
        decision_type: str | None = None,
    ) -> DecisionFilter:
        """The filter from the query parameters (comma-separated lists, as CrowdSec takes)."""
        return cls(
            scopes=_set(scopes),
            origins=_set(origins),
            scenarios_containing=tuple(_set(scenarios_containing) or ()),
            scenarios_not_containing=tuple(_set(scenarios_not_containing) or ()),
            value=value.strip() if value else None,
            decision_type=decision_type.strip().lower() if decision_type else None,
        )

    def allows(self, decision: Decision) -> bool:
        if self.decision_type is not None and self.decision_type != "ban":
            return False
        if self.scopes is not None and scope_of(decision).lower() not in self.scopes:
            return False
        if self.origins is not None and decision.origin.lower() not in self.origins:
            return False
        if self.value is not None and decision.value != self.value:
            return False
        if self.scenarios_containing or self.scenarios_not_containing:
            scenario = scenario_of(decision).lower()
            if self.scenarios_containing and not any(
                part in scenario for part in self.scenarios_containing
            ):
                return False
            if any(part in scenario for part in self.scenarios_not_containing):
                return False
        return True


def _set(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    parts = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    return parts or None


def scope_of(decision: Decision) -> str:
    network = _network(decision.value)
    return "Ip" if network is None or network.num_addresses == 1 else "Range"


def scenario_of(decision: Decision) -> str:
    return f"vigil/{decision.reason}"[:255]


def _go_duration(delta: timedelta) -> str:
    """A duration the way Go's time.ParseDuration reads it (e.g. `3h59m12s`)."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}h{minutes}m{secs}s"


def bouncer_view(decision: Decision, now: datetime) -> dict[str, Any]:
    """One decision in the Local API's JSON shape, its duration capped for ipset."""
    remaining = (
        decision.expires_at - now if decision.expires_at is not None else MAX_BOUNCER_DURATION
    )
    remaining = min(remaining, MAX_BOUNCER_DURATION)
    return {
        "id": decision.id,
        "origin": decision.origin,
        "type": "ban",
        "scope": scope_of(decision),
        "value": decision.value,
        "duration": _go_duration(remaining),
        "scenario": scenario_of(decision),
        "until": (now + remaining).isoformat(),
        "simulated": False,
    }


def sites_clause(sites: Sequence[str] | None) -> ColumnElement[bool]:
    """Decisions a bouncer limited to `sites` receives: its sites' and the every-site ones."""
    if sites is None:
        return Decision.id.is_not(None)
    return or_(Decision.site.in_(list(sites)), Decision.site.is_(None))


def _lasts_longer(a: Decision, b: Decision) -> bool:
    if a.expires_at is None or b.expires_at is None:
        return a.expires_at is None and (b.expires_at is not None or a.id > b.id)
    return (a.expires_at, a.id) > (b.expires_at, b.id)


def longest_per_address(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The longest-lasting decision of each address or network."""
    longest: dict[str, Decision] = {}
    for decision in decisions:
        known = longest.get(decision.value)
        if known is None or _lasts_longer(decision, known):
            longest[decision.value] = decision
    return longest


async def active_for_bouncer(
    session: AsyncSession, sites: Sequence[str] | None, now: datetime
) -> list[Decision]:
    """Published decisions in force that a bouncer limited to `sites` may enforce."""
    stmt = (
        select(Decision)
        .where(active_clause(now), Decision.simulated.is_(False), sites_clause(sites))
        .order_by(Decision.id)
    )
    return list(await session.scalars(stmt))


def _needs_refresh(decision: Decision, last: datetime, now: datetime) -> bool:
    """Whether a decision longer than the cap must be sent again so it never times out at the
    bouncer: once per `REFRESH_EVERY` since it was made."""
    if decision.expires_at is not None and decision.expires_at <= last + MAX_BOUNCER_DURATION:
        return False
    start = decision.created_at
    return (now - start) // REFRESH_EVERY > (last - start) // REFRESH_EVERY


async def last_pull(session: AsyncSession, bouncer: str) -> datetime | None:
    row = await session.get(BouncerPull, bouncer)
    return row.last_pull_at if row is not None else None


async def record_pull(session: AsyncSession, bouncer: str, at: datetime) -> None:
    """Store the bouncer's pull time (one statement, safe against a concurrent pull)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(BouncerPull).values(bouncer=bouncer, last_pull_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[BouncerPull.bouncer], set_={"last_pull_at": at}
    )
    await session.execute(stmt)


async def pull_stream(
    session: AsyncSession,
    bouncer: str,
    *,
    startup: bool,
    sites: Sequence[str] | None,
    decision_filter: DecisionFilter,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(new, deleted) for one pull of `bouncer`; the pull time is stored in the session."""
    now = now or datetime.now(UTC)
    last = None if startup else await last_pull(session, bouncer)
    active = [d for d in await active_for_bouncer(session, sites, now) if decision_filter.allows(d)]
    longest = longest_per_address(active)
    deleted: list[Decision] = []
    if last is None:
        new = list(longest.values())
    else:
        since = last - OVERLAP
        values = {d.value for d in active if d.created_at > since}
        values.update(v for v, d in longest.items() if _needs_refresh(d, last, now))
        new = [longest[v] for v in sorted(values, key=lambda v: longest[v].id)]
        ended_stmt = (
            select(Decision)
            .where(
                Decision.simulated.is_(False),
                sites_clause(sites),
                or_(
                    and_(Decision.deleted_at > since, Decision.deleted_at <= now),
                    and_(Decision.expires_at > since, Decision.expires_at <= now),
                ),
            )
            .order_by(Decision.id)
        )
        seen: set[str] = set()
        for decision in await session.scalars(ended_stmt):
            if decision.value in longest or decision.value in seen:
                continue
            if decision_filter.allows(decision):
                seen.add(decision.value)
                deleted.append(decision)
    await record_pull(session, bouncer, now)
    return [bouncer_view(d, now) for d in new], [bouncer_view(d, now) for d in deleted]


def _network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def covering(
    decisions: Iterable[Decision], target: Network, *, contains: bool = True
) -> list[Decision]:
    """Decisions whose network contains `target` (`contains`), or lies inside it (not)."""
    found = []
    for decision in decisions:
        network = _network(decision.value)
        if network is None or network.version != target.version:
            continue
        inside = target.subnet_of(network) if contains else network.subnet_of(target)  # type: ignore[arg-type]
        if inside:
            found.append(decision)
    return found
