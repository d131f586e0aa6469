"""Finding 9: an export holding a network and an address inside it loads into nftables."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.security.conftest import missing_tool
from vigil.db.models import Decision
from vigil.sinks.blocklist import render

NOW = datetime(2026, 5, 1, tzinfo=UTC)
VALUES = [
    "203.0.113.0/24",
    "203.0.113.7",  # inside the /24
    "198.51.100.0/25",
    "198.51.100.128/25",  # adjacent: one /24
    "192.0.2.1",
    "2001:db8::/64",
    "2001:db8::5",  # inside the /64
    "2001:db8:1::1",
]


def _decisions() -> list[Decision]:
    return [
        Decision(id=n, site="a", value=v, scope="ip", reason="t", origin="vigil",
                 simulated=False, created_at=NOW, expires_at=NOW + timedelta(hours=1))
        for n, v in enumerate(VALUES, 1)
    ]  # fmt: skip


def test_exports_merge_overlapping_and_adjacent_ranges() -> None:
    plain = render(_decisions(), "plain").split()
    assert plain == [
        "192.0.2.1",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001:db8::/64",
        "2001:db8:1::1",
    ]
    networks = [ipaddress.ip_network(v) for v in plain]
    for i, first in enumerate(networks):
        for second in networks[i + 1 :]:
            assert not first.overlaps(second), (first, second)  # type: ignore[arg-type]


def test_nftables_export_loads_with_nft(tmp_path: Path) -> None:
    nft = shutil.which("nft")
    if nft is None:
        missing_tool("nft is not installed (apt-get install nftables; make test does as root)")
    script = tmp_path / "vigil.nft"
    script.write_text(render(_decisions(), "nftables"))
    checked = subprocess.run([nft, "-c", "-f", str(script)], capture_output=True, text=True)
    if checked.returncode != 0 and "Operation not permitted" in checked.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN, which this test process does not have")
    assert checked.returncode == 0, checked.stderr
