"""Block decisions as firewalls and bouncers read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.config import Settings
from vigil.db.models import Decision
from vigil.db.session import get_db_context
from vigil.services.crowdsec import DecisionFilter, pull_stream
from vigil.sinks.blocklist import active_decisions, render

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def _seed() -> None:
    async with get_db_context() as session:
        session.add_all(
            [
                Decision(
                    site="a",
                    value="203.0.113.7",
                    scope="ip",
                    reason="sqli",
                    created_at=NOW - timedelta(minutes=5),
                    expires_at=NOW + timedelta(hours=1),
                ),
                Decision(
                    site="a",
                    value="2001:db8::/64",
                    scope="range",
                    reason="scan",
                    created_at=NOW - timedelta(minutes=5),
                    expires_at=NOW + timedelta(hours=1),
                ),
                Decision(
                    site="b",
                    value="198.51.100.9",
                    scope="ip",
                    reason="flood",
                    created_at=NOW - timedelta(minutes=5),
                    expires_at=NOW + timedelta(hours=1),
                ),
                Decision(
                    site="a",
                    value="192.0.2.1",
                    scope="ip",
                    reason="old",
                    created_at=NOW - timedelta(hours=9),
                    expires_at=NOW - timedelta(hours=1),
                ),
                Decision(
                    site="a",
                    value="192.0.2.2",
                    scope="ip",
                    reason="trial",
                    simulated=True,
                    created_at=NOW - timedelta(minutes=5),
                    expires_at=NOW + timedelta(hours=1),
                ),
            ]
        )


async def test_exports_hold_only_active_published_decisions(db: Settings) -> None:
    await _seed()
    async with get_db_context() as session:
        decisions = await active_decisions(session, ["a"], now=NOW)
    plain = render(decisions, "plain")
    assert plain == "203.0.113.7\n2001:db8::/64\n"
    nginx = render(decisions, "nginx")
    assert "deny 203.0.113.7;" in nginx
    assert "deny 2001:db8::/64;" in nginx
    nft = render(decisions, "nftables")
    assert "elements = { 203.0.113.7 }" in nft
    assert "elements = { 2001:db8::/64 }" in nft
    assert "198.51.100.9" not in plain + nginx + nft


async def test_crowdsec_stream_sends_new_then_deleted(db: Settings) -> None:
    await _seed()
    everything = DecisionFilter()
    async with get_db_context() as session:
        new, deleted = await pull_stream(
            session, "bouncer-1", startup=True, sites=["a"], decision_filter=everything, now=NOW
        )
    assert {d["value"] for d in new} == {"203.0.113.7", "2001:db8::/64"}
    assert {d["scope"] for d in new} == {"Ip", "Range"}
    assert new[0]["duration"] == "1h0m0s"
    assert deleted == []

    later = NOW + timedelta(minutes=2)
    async with get_db_context() as session:
        decision = await session.get(Decision, 1)
        assert decision is not None
        decision.deleted_at = NOW + timedelta(minutes=1)
        session.add(
            Decision(
                site="a",
                value="203.0.113.99",
                scope="ip",
                reason="xss",
                created_at=NOW + timedelta(minutes=1),
                expires_at=NOW + timedelta(hours=4),
            )
        )
    async with get_db_context() as session:
        new, deleted = await pull_stream(
            session, "bouncer-1", startup=False, sites=["a"], decision_filter=everything, now=later
        )
    assert [d["value"] for d in new] == ["203.0.113.99"]
    assert [d["value"] for d in deleted] == ["203.0.113.7"]
