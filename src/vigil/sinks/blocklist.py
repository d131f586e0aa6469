"""Block decisions: the policy that makes them, and the formats firewalls and proxies read.

Policy: a client with any HIGH event, or with `block_medium_count` MEDIUM-or-higher events
within `block_medium_window_minutes`, gets a decision for its address that expires after
`block_duration_minutes`. In simulation mode decisions are recorded but not published.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.config import Settings, StoreSection
from vigil.db.models import Decision, ThreatEvent
from vigil.sinks.export_formats import EXPORT_FORMATS
from vigil.sinks.incidents import IncidentState


@dataclass(frozen=True, slots=True)
class BlockPolicy:
    block_on_high: bool = True
    medium_count: int = 10
    medium_window: timedelta = timedelta(minutes=10)
    duration: timedelta = timedelta(hours=4)
    simulation: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> BlockPolicy:
        return cls.from_section(settings.store)

    @classmethod
    def from_section(cls, section: StoreSection) -> BlockPolicy:
        return cls(
            block_on_high=section.block_on_high,
            medium_count=section.block_medium_count,
            medium_window=timedelta(minutes=section.block_medium_window_minutes),
            duration=timedelta(minutes=section.block_duration_minutes),
            simulation=section.block_simulation,
        )


def active_clause(now: datetime) -> ColumnElement[bool]:
    """Decisions in force at `now`: not deleted, not expired."""
    return and_(
        Decision.deleted_at.is_(None),
        or_(Decision.expires_at.is_(None), Decision.expires_at > now),
    )


def scope_of(value: str) -> str:
    network = ipaddress.ip_network(value, strict=False)
    return "ip" if network.num_addresses == 1 else "range"


async def apply_policy(
    session: AsyncSession,
    site: str,
    incidents: Sequence[IncidentState],
    policy: BlockPolicy,
    now: datetime | None = None,
) -> list[dict[str, object]]:
    """Create decisions for the clients of `incidents` that the policy says to block; returns
    them as `decision_dict` shapes. Three statements for any number of clients."""
    now = now or datetime.now(UTC)
    if not incidents:
        return []
    ips = sorted({i.client_ip for i in incidents})
    already = set(
        await session.scalars(
            select(Decision.value).where(
                Decision.site == site, _among(session, Decision.value, ips), active_clause(now)
            )
        )
    )
    candidates = [i for i in incidents if i.client_ip not in already]
    counts: dict[str, int] = {}
    needs_count = sorted(
        {i.client_ip for i in candidates if not (policy.block_on_high and i.top_severity == "HIGH")}
    )
    if needs_count:
        since = min(i.last_seen for i in candidates) - policy.medium_window
        counted = await session.execute(
            select(ThreatEvent.client_ip, func.count())
            .where(
                ThreatEvent.site == site,
                _among(session, ThreatEvent.client_ip, needs_count),
                ThreatEvent.observed_at >= since,
            )
            .group_by(ThreatEvent.client_ip)
        )
        counts = {ip: int(n) for ip, n in counted}
    rows: list[dict[str, object]] = []
    minutes = int(policy.medium_window.total_seconds() // 60)
    for incident in candidates:
        ip = incident.client_ip
        if ip in already:
            continue
        reason = None
        if policy.block_on_high and incident.top_severity == "HIGH":
            reason = f"HIGH severity ({', '.join(incident.categories[:4])})"
        elif counts.get(ip, 0) >= policy.medium_count:
            reason = f"{counts[ip]} events within {minutes} min"
        if reason is None:
            continue
        row = _decision_row(site, ip, reason, incident.id, policy, now)
        if row is not None:
            rows.append(row)
            already.add(ip)
    return await _insert_decisions(session, rows, now, policy)


def _decision_row(
    site: str, ip: str, reason: str, incident_id: int | None, policy: BlockPolicy, now: datetime
) -> dict[str, object] | None:
    """A decision row blocking `ip`, or None when the client field is not an address (it
    cannot be blocked)."""
    try:
        scope = scope_of(ip)
    except ValueError:
        return None
    return {
        "site": site,
        "value": ip,
        "scope": scope,
        "reason": reason,
        "origin": "vigil",
        "incident_id": incident_id,
        "simulated": policy.simulation,
        "created_at": now,
        "expires_at": now + policy.duration,
    }


async def _insert_decisions(
    session: AsyncSession, rows: list[dict[str, object]], now: datetime, policy: BlockPolicy
) -> list[dict[str, object]]:
    """Insert decision rows; returns them as `decision_dict` shapes."""
    if not rows:
        return []
    table = cast(Table, Decision.__table__)
    result = await session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    created = []
    for row, ident in zip(rows, result.scalars().all(), strict=True):
        created.append(
            {
                "id": ident,
                **{k: row[k] for k in ("site", "value", "scope", "reason", "origin")},
                "simulated": row["simulated"],
                "incident_id": row["incident_id"],
                "created_at": now.isoformat(),
                "expires_at": (now + policy.duration).isoformat(),
            }
        )
    return created


async def block_members(
    session: AsyncSession,
    site: str,
    incident_id: int,
    ips: Sequence[str],
    reason: str,
    policy: BlockPolicy,
    now: datetime,
) -> list[dict[str, object]]:
    """Decisions for the members of a campaign incident that no decision covers yet, with
    the campaign as their reason (blocking is on whenever HIGH events block)."""
    if not policy.block_on_high or not ips:
        return []
    wanted = sorted(set(ips))
    already = set(
        await session.scalars(
            select(Decision.value).where(
                Decision.site == site, _among(session, Decision.value, wanted), active_clause(now)
            )
        )
    )
    rows: list[dict[str, object]] = []
    for ip in wanted:
        if ip not in already:
            row = _decision_row(site, ip, reason, incident_id, policy, now)
            if row is not None:
                rows.append(row)
    return await _insert_decisions(session, rows, now, policy)


def _among(session: AsyncSession, column: Any, values: list[str]) -> ColumnElement[bool]:
    """`column` is one of `values`: one array parameter on PostgreSQL, a list on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


async def active_decisions(
    session: AsyncSession,
    sites: Sequence[str] | None = None,
    now: datetime | None = None,
    include_simulated: bool = False,
) -> list[Decision]:
    """Decisions in force, limited to `sites` when given (a site-restricted caller)."""
    now = now or datetime.now(UTC)
    query = select(Decision).where(active_clause(now))
    if not include_simulated:
        query = query.where(Decision.simulated.is_(False))
    if sites is not None:
        query = query.where(Decision.site.in_(list(sites)))
    return list(await session.scalars(query.order_by(Decision.id)))


def merged_networks(values: Sequence[str]) -> list[str]:
    """The addresses and networks of `values`, overlapping and adjacent ones merged, IPv4
    before IPv6, each as an address when it is one. A firewall set with intervals refuses a
    network together with an address inside it (nft: "conflicting intervals specified")."""
    networks = [ipaddress.ip_network(v, strict=False) for v in values]
    merged: list[str] = []
    for version in (4, 6):
        same = [n for n in networks if n.version == version]
        for network in ipaddress.collapse_addresses(same):  # type: ignore[type-var]
            single = network.num_addresses == 1
            merged.append(str(network.network_address) if single else str(network))
    return merged


def render(decisions: Sequence[Decision], fmt: str, set_name: str = "vigil_blocklist") -> str:
    """The decisions as an nginx include, a plain list, an nftables script or JSON lines."""
    values = merged_networks(sorted({d.value for d in decisions}, key=_sort_key))
    if fmt == "plain":
        return "".join(f"{v}\n" for v in values)
    if fmt == "nginx":
        body = "".join(f"deny {v};\n" for v in values)
        return "# vigil blocklist: include from an http, server or location block\n" + body
    if fmt == "nftables":
        v4 = [v for v in values if ":" not in v]
        v6 = [v for v in values if ":" in v]
        lines = [
            "#!/usr/sbin/nft -f",
            "# vigil blocklist: load with `nft -f FILE`",
            "table inet vigil {",
            f"  set {set_name}_v4 {{ type ipv4_addr; flags interval; "
            + (f"elements = {{ {', '.join(v4)} }}; " if v4 else "")
            + "}",
            f"  set {set_name}_v6 {{ type ipv6_addr; flags interval; "
            + (f"elements = {{ {', '.join(v6)} }}; " if v6 else "")
            + "}",
            "  chain input {",
            "    type filter hook input priority -10; policy accept;",
            f"    ip saddr @{set_name}_v4 drop",
            f"    ip6 saddr @{set_name}_v6 drop",
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n"
    if fmt == "json":
        import orjson

        return "".join(
            orjson.dumps(decision_dict(d)).decode() + "\n"
            for d in sorted(decisions, key=lambda d: d.id)
        )
    raise ValueError(f"unknown blocklist format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")


def decision_dict(decision: Decision) -> dict[str, object]:
    return {
        "id": decision.id,
        "site": decision.site,
        "value": decision.value,
        "scope": decision.scope,
        "reason": decision.reason,
        "origin": decision.origin,
        "simulated": decision.simulated,
        "incident_id": decision.incident_id,
        "created_at": decision.created_at.isoformat(),
        "expires_at": decision.expires_at.isoformat() if decision.expires_at else None,
    }


def _sort_key(value: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(value, strict=False)
    return (network.version, int(network.network_address), network.prefixlen)
