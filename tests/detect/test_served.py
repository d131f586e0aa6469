"""Probes judged with the answer and the site: CMS and admin paths a site does not serve are
MEDIUM probes (and a series is an incident); the same paths on a site that serves them are LOW
once the site's own 2xx answers were seen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from vigil.batch import LineBatch
from vigil.db import migrate
from vigil.db.models import Incident, ThreatEvent
from vigil.db.session import get_db_context
from vigil.detect.served import ServedJudge, ServedProbes, ServedStateError
from vigil.pipeline.analyze import Analyzer
from vigil.pipeline.assembly import open_pipeline
from vigil.sinks.store import StoreSink

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
PROBES = ("/wp-login.php", "/wp-admin/", "/xmlrpc.php", "/administrator/index.php", "/pma/")


def _line(ip: str, second: int, path: str, status: int) -> bytes:
    stamp = f"10/Oct/2024:13:{second // 60:02d}:{second % 60:02d} +0000"
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} 120 "-" "{UA}"'.encode()


def _batch(lines: list[bytes], file_id: str = "log") -> LineBatch:
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    return LineBatch("test", file_id, lines, offsets, position)


def _analyzer(tmp_path: Path) -> Analyzer:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/v.db", detection_mode="rules")
    return Analyzer(settings, keep_results=True, enrich=False)


def test_cms_probes_answered_404_are_medium_each(tmp_path: Path) -> None:
    analyzer = _analyzer(tmp_path)
    lines = [_line("203.0.113.9", i, path, 404) for i, path in enumerate(PROBES)]
    scored = analyzer.analyze(_batch(lines))
    assert scored.results is not None
    assert [r.severity for r in scored.results] == ["MEDIUM"] * len(PROBES)
    assert all(t.severity == "MEDIUM" for t in scored.threats)


def test_a_site_that_serves_wordpress_stops_flagging_its_logins_once_learned(
    tmp_path: Path,
) -> None:
    analyzer = _analyzer(tmp_path)
    # Three different visitors get the login page: the site runs WordPress.
    learning = [_line(f"198.51.100.{n}", n, "/wp-login.php", 200) for n in (1, 2, 3)]
    first = analyzer.analyze(_batch(learning))
    assert first.results is not None
    # Until the third distinct client, a 200 on an unknown site is still a probe.
    assert [r.severity for r in first.results] == ["MEDIUM", "MEDIUM", "LOW"]
    later = analyzer.analyze(
        _batch(
            [
                _line("198.51.100.7", 10, "/wp-login.php", 200),
                _line("198.51.100.8", 11, "/wp-admin/", 302),
                _line("203.0.113.9", 12, "/wp-login.php", 404),
                _line("203.0.113.9", 13, "/administrator/index.php", 404),
            ]
        )
    )
    assert later.results is not None
    assert [r.severity for r in later.results] == ["LOW", "LOW", "MEDIUM", "MEDIUM"]
    # The reason stays visible on the LOW verdict.
    assert "probe-wordpress" in later.results[0].rules
    assert analyzer.served.served.families("default") == ["wordpress"]


def test_learning_is_per_site_and_needs_distinct_clients(tmp_path: Path) -> None:
    analyzer = _analyzer(tmp_path)
    same_client = [_line("198.51.100.1", n, "/wp-login.php", 200) for n in range(6)]
    analyzer.analyze(_batch(same_client), site="blog")
    assert analyzer.served.served.families("blog") == []
    others = [_line(f"198.51.100.{n}", n, "/wp-login.php", 200) for n in (2, 3)]
    analyzer.analyze(_batch(others), site="blog")
    assert analyzer.served.served.families("blog") == ["wordpress"]
    shop = analyzer.analyze(_batch([_line("198.51.100.9", 1, "/wp-login.php", 200)]), site="shop")
    assert shop.results is not None and shop.results[0].severity == "MEDIUM"


def test_one_administrator_on_three_days_teaches_the_site(tmp_path: Path) -> None:
    analyzer = _analyzer(tmp_path)
    admin = "198.51.100.1"

    def day(n: int, status: int = 200) -> bytes:
        stamp = f"{10 + n}/Oct/2024:09:00:00 +0000"
        return (
            f'{admin} - - [{stamp}] "GET /administrator/ HTTP/1.1" {status} 120 "-" "{UA}"'.encode()
        )

    # Many logins on one day, and 404s on other days, teach nothing.
    analyzer.analyze(_batch([day(0)] * 5 + [day(1, 404), day(2, 404)]), site="club")
    assert analyzer.served.served.families("club") == []
    analyzer.analyze(_batch([day(3)]), site="club")
    assert analyzer.served.served.families("club") == []
    third = analyzer.analyze(_batch([day(4)]), site="club")
    assert analyzer.served.served.families("club") == ["joomla"]
    assert third.results is not None and third.results[0].severity == "LOW"
    probe = analyzer.analyze(_batch([day(5, 404)]), site="club")
    assert probe.results is not None and probe.results[0].severity == "MEDIUM"


def test_days_learned_so_far_survive_a_snapshot() -> None:
    served = ServedProbes(min_clients=5, min_days=2)
    served.observe("blog", "wordpress", "a", 200, day=738_000)
    copy = ServedProbes(min_clients=5, min_days=2)
    copy.restore(served.snapshot())
    copy.observe("blog", "wordpress", "a", 200, day=738_001)
    assert copy.families("blog") == ["wordpress"]
    # A record written before days were counted still restores.
    old = b'{"version":1,"min_clients":3,"served":[["blog","joomla"]],"learning":[]}'
    assert ServedProbes().restore(old) == 1


def test_served_record_survives_a_snapshot_and_rejects_garbage() -> None:
    served = ServedProbes(min_clients=2)
    for client in ("a", "b"):
        served.observe("blog", "wordpress", client, 200)
    served.observe("blog", "joomla", "a", 200)
    served.observe("blog", "drupal", "a", 404)
    copy = ServedProbes(min_clients=2)
    assert copy.restore(served.snapshot()) == 1
    assert copy.families("blog") == ["wordpress"]
    copy.observe("blog", "joomla", "c", 200)
    assert copy.families("blog") == ["joomla", "wordpress"]
    with pytest.raises(ServedStateError):
        copy.restore(b"{not json")


def test_explain_gives_both_outcomes() -> None:
    from vigil.detect.engine import DetectionEngine
    from vigil.detect.ruleset import load_ruleset
    from vigil.detect.samples import record_from_request

    ruleset = load_ruleset()
    detection = DetectionEngine(ruleset).detect_batch(
        [record_from_request("GET /wp-login.php HTTP/1.1")]
    )[0]
    (outcome,) = ServedJudge(ruleset.rules).outcomes(detection)
    assert outcome["family"] == "wordpress"
    assert outcome["probe"]["severity"] == "MEDIUM"
    assert outcome["served"]["severity"] == "LOW"


async def test_a_series_of_404_cms_probes_is_stored_as_one_incident(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/v.db", detection_mode="rules")
    lines = [_line("203.0.113.9", i, path, 404) for i, path in enumerate(PROBES)]
    await asyncio.to_thread(migrate.upgrade, "head", settings)
    async with open_pipeline(settings, sinks=[StoreSink(settings)]) as pipeline:
        await pipeline.submit(_batch(lines))
        await pipeline.stop()
        async with get_db_context() as session:
            severities = list(await session.scalars(select(ThreatEvent.severity)))
            incidents = list(await session.scalars(select(Incident)))
    assert severities == ["MEDIUM"] * len(PROBES)
    assert len(incidents) == 1
    assert incidents[0].event_count == len(PROBES)
