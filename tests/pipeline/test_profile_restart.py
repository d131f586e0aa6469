"""A site profile learned by a running pipeline (as `vigil serve` runs it) is saved in the
database and restored by the next one, which then flags what the site has never seen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.conftest import make_settings
from vigil.batch import LineBatch, ScoredBatch
from vigil.db import migrate
from vigil.pipeline.assembly import open_pipeline
from vigil.simulate.scenarios import ScenarioRequest, format_combined
from vigil.simulate.site import site_day

START = datetime(2024, 10, 1, tzinfo=UTC)


def _batch(lines: list[str], name: str) -> LineBatch:
    data = [line.encode() for line in lines]
    offsets = [i * 400 for i in range(len(data))]
    return LineBatch(name, name, data, offsets, len(data) * 400)


async def _run(url: str, lines: list[str], name: str) -> list[ScoredBatch]:
    settings = make_settings(url, detection_mode="rules", profile_learning_hours=2.0)
    scored: list[ScoredBatch] = []
    async with open_pipeline(settings, learn_profiles=True, on_scored=scored.append) as pipe:
        for start in range(0, len(lines), 2000):
            await pipe.submit(_batch(lines[start : start + 2000], f"{name}-{start}"))
    return scored


async def test_profile_survives_a_restart(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        await asyncio.to_thread(migrate.upgrade, "head", make_settings(database_url))
    normal = [format_combined(r) for r in site_day(6000, day_seed=3, start=START)]
    await _run(database_url, normal, "day1")

    later = datetime(2024, 10, 2, 12, tzinfo=UTC)
    probe = ScenarioRequest(
        at=later,
        client_ip="198.51.100.7",
        method="GET",
        path="/tienda/publico/autenticar.jsp",
        status=200,
        bytes_sent=900,
        user_agent="Mozilla/5.0",
        query="modo=entrar&login=ana12&pwdA=xK3mPq9ZtW&remember=on&B1=Entrar",
    )
    calm = [format_combined(r) for r in site_day(300, day_seed=4, start=later)]
    scored = await _run(database_url, [*calm, format_combined(probe)], "day2")
    threats = [t for batch in scored for t in batch.threats]
    flagged = [t for t in threats if "profile" in {m["rule_id"] for m in t.matches}]
    # A few of the day's normal requests are rare for a profile of only 6,000 requests.
    assert len(flagged) <= 4
    found = [t for t in flagged if t.record.query == probe.query]
    assert found, [t.components["profile_reasons"] for t in flagged]
    reasons = found[0].components["profile_reasons"]
    assert reasons[0].startswith("parameter `pwdA` never seen on `/tienda/publico/autenticar.jsp`")
    assert found[0].score >= 0.5 and "anomaly" in found[0].categories
