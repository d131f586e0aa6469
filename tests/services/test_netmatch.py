"""CIDR filters in SQL on both backends, with client fields that are not addresses at all."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.api.factories import event_row, insert_events
from vigil.config import Settings
from vigil.db.models import ThreatEvent
from vigil.db.session import get_db_context
from vigil.services.netmatch import client_clause, parse_client_filter

STORED = [
    "10.0.0.1",
    "10.255.255.255",
    "11.0.0.1",
    "100.0.0.1",
    "2001:db8::1",
    "2001:db8:0:0:1::",
    "2001:db9::1",
    "::1",
    "-",
    "unknown",
    "999.1.1.1",
    ":::",
    "10.0.0.1, 10.0.0.2",
    "",
]


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ("10.0.0.0/8", {"10.0.0.1", "10.255.255.255"}),
        ("10.0.0.1", {"10.0.0.1"}),
        ("0.0.0.0/0", {"10.0.0.1", "10.255.255.255", "11.0.0.1", "100.0.0.1"}),
        ("2001:db8::/32", {"2001:db8::1", "2001:db8:0:0:1::"}),
        ("::/0", {"2001:db8::1", "2001:db8:0:0:1::", "2001:db9::1", "::1"}),
        ("100.0.0.0/31", {"100.0.0.1"}),
        ("10.255.240.0/20", {"10.255.255.255"}),
        ("10.0.0.0/24", {"10.0.0.1"}),
    ],
)
async def test_cidr_matches_exactly(db: Settings, network: str, expected: set[str]) -> None:
    await insert_events([event_row(client_ip=ip) for ip in STORED])
    async with get_db_context() as session:
        clause = await client_clause(session, ThreatEvent.client_ip, parse_client_filter(network))
        found = set(await session.scalars(select(ThreatEvent.client_ip).where(clause)))
    assert found == expected


@pytest.mark.parametrize(
    "text", ["", "banana", "10.0.0.0/33", "1.2.3.4/8/8", "x" * 100, "' OR 1=1"]
)
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="CIDR"):
        parse_client_filter(text)
