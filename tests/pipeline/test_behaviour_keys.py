"""Each behaviour finding is stored under a key of its own.

Two findings of one detector can come from the same line about the same client: credential
stuffing is tracked per login endpoint and also per group of clients (an ASN), and both
campaigns can fire on the request that takes them over their threshold. The store keeps one
event per key, so findings sharing a key would be counted by the scan and then silently
dropped (and a replay could not tell them apart)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from vigil.batch import LineBatch, LogRecord
from vigil.detect.behaviour import BehaviourEngine
from vigil.pipeline.analyze import Analyzer


def _stuffing_lines(clients: int) -> list[bytes]:
    """One failed-looking login each from many clients: credential stuffing."""
    lines = []
    for n in range(clients):
        second = n * 5
        stamp = f"10/Oct/2024:13:{second // 60:02d}:{second % 60:02d} +0000"
        lines.append(
            f'198.18.0.{n + 1} - - [{stamp}] "POST /login HTTP/1.1" 200 120 "-" '
            f'"Mozilla/5.0"'.encode()
        )
    return lines


def _batch(lines: list[bytes]) -> LineBatch:
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    return LineBatch("test", "f1", lines, offsets, position)


def _one_group(record: LogRecord) -> str | None:
    return "AS64501"


def test_grouped_and_ungrouped_stuffing_on_one_line_get_two_keys(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/v.db", detection_mode="rules")
    analyzer = Analyzer(settings, behaviour=BehaviourEngine(group_of=_one_group), enrich=False)
    scored = analyzer.analyze(_batch(_stuffing_lines(30)))
    stuffing = [t for t in scored.threats if "behaviour:credential-stuffing" in _rules(t.matches)]
    groups = sorted(t.matches[0]["evidence"]["group"] or "" for t in stuffing)
    assert groups == ["", "AS64501"]
    # Both fire on the same line about the same client ...
    assert len({(t.record.offset, t.record.client_ip) for t in stuffing}) == 1
    # ... and are still two events.
    keys = [t.key for t in scored.threats]
    assert len(keys) == len(set(keys))


def test_behaviour_keys_do_not_change_between_runs(tmp_path: Path) -> None:
    # A replay must find the keys it stored the first time.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/v.db", detection_mode="rules")
    runs = []
    for _ in range(2):
        analyzer = Analyzer(settings, behaviour=BehaviourEngine(group_of=_one_group), enrich=False)
        scored = analyzer.analyze(_batch(_stuffing_lines(30)))
        runs.append(sorted(t.key for t in scored.threats if t.detection_mode == "behaviour"))
    assert runs[0] == runs[1]
    assert len(runs[0]) == 2


def _rules(matches: list[dict[str, object]]) -> set[object]:
    return {m["rule_id"] for m in matches}
