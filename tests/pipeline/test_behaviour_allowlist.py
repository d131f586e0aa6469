"""The allowlists stored through the API reach the behaviour windows: a client allowlisted for
a site (by address or by user agent) gets no behaviour event there, while the same behaviour
from a client that is not allowlisted, or on another site, still does."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.runner import Pipeline

SCANNER = "203.0.113.50"
OTHER = "198.51.100.77"
AGENT = "AcmeAudit/2.0 (+https://audit.example)"


def _scan_lines(ip: str, agent: str, first_second: int = 0) -> list[bytes]:
    """Forty missing paths in forty seconds: what the scan detector reports."""
    lines = []
    for i in range(40):
        second = first_second + i
        stamp = f"10/Oct/2024:13:{second // 60:02d}:{second % 60:02d} +0000"
        lines.append(
            f'{ip} - - [{stamp}] "GET /guess-{ip}-{i} HTTP/1.1" 404 120 "-" "{agent}"'.encode()
        )
    return lines


def _batch(lines: list[bytes], file_id: str) -> LineBatch:
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    return LineBatch("test", file_id, lines, offsets, position)


async def _behaviour_clients(
    tmp_path: Path, allowlist: list[dict[str, str]], site: str | None, traffic_site: str
) -> set[str]:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/v.db", detection_mode="rules")
    scored: list[ScoredBatch] = []
    pipeline = Pipeline(
        settings.runner, analyzer=Analyzer(settings, enrich=False), on_scored=scored.append
    )
    # The path the stored allowlist takes into a running pipeline (open_pipeline, the API).
    pipeline.set_exclusions(site, [], allowlist)
    await pipeline.start()
    await pipeline.submit(_batch(_scan_lines(SCANNER, "gobuster/3.6"), "a"), traffic_site)
    await pipeline.submit(_batch(_scan_lines(OTHER, AGENT, 100), "b"), traffic_site)
    await pipeline.stop(drain=True)
    return {
        threat.record.client_ip
        for batch in scored
        for threat in batch.threats
        if threat.detection_mode == "behaviour"
    }


async def test_without_allowlist_both_scanners_get_behaviour_events(tmp_path: Path) -> None:
    assert await _behaviour_clients(tmp_path, [], None, "shop") == {SCANNER, OTHER}


async def test_an_allowlisted_address_gets_no_behaviour_event(tmp_path: Path) -> None:
    allowlist = [{"kind": "ip", "value": SCANNER}]
    assert await _behaviour_clients(tmp_path, allowlist, "shop", "shop") == {OTHER}
    allowlist = [{"kind": "cidr", "value": "203.0.113.0/24"}]
    assert await _behaviour_clients(tmp_path, allowlist, None, "shop") == {OTHER}


async def test_an_allowlisted_user_agent_gets_no_behaviour_event(tmp_path: Path) -> None:
    allowlist = [{"kind": "user_agent", "value": "AcmeAudit/2.0"}]
    assert await _behaviour_clients(tmp_path, allowlist, "shop", "shop") == {SCANNER}


async def test_one_sites_allowlist_does_not_hide_another_sites_scanner(tmp_path: Path) -> None:
    allowlist = [{"kind": "ip", "value": SCANNER}]
    assert await _behaviour_clients(tmp_path, allowlist, "blog", "shop") == {SCANNER, OTHER}
