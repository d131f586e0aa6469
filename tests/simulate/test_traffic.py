"""The traffic generator is deterministic, realistic enough to exercise the parser, and labels
its attacks."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

from vigil.batch import LineBatch
from vigil.ingest.parser import build_parser
from vigil.simulate.traffic import ATTACK_CATEGORIES, generate, nginx_escape, write_log


def test_same_seed_same_lines_other_seed_other_lines() -> None:
    first = list(generate(3000, seed=7))
    again = list(generate(3000, seed=7))
    other = list(generate(3000, seed=8))
    assert first == again
    assert [g.text for g in first] != [g.text for g in other]


def test_every_line_parses_as_combined_with_its_label() -> None:
    items = list(generate(20_000, seed=3))
    lines = [item.text.encode() for item in items]
    result = build_parser("combined").parse_batch(
        LineBatch("sim", "f", lines, list(range(len(lines))), len(lines))
    )
    assert not result.dead_letters
    assert len(result.records) == len(items)
    labels = Counter(item.label for item in items)
    attacks = sum(count for label, count in labels.items() if label is not None)
    assert 0.04 < attacks / len(items) < 0.06
    assert set(labels) - {None} == set(ATTACK_CATEGORIES)
    # Some attacks are TLS probes and other non-HTTP requests, and those only.
    malformed = [items[r.offset] for r in result.records if r.malformed]
    assert malformed
    assert {item.label for item in malformed} <= {"scanner", None}


def test_traffic_is_varied_and_moves_forward_in_time() -> None:
    items = list(generate(20_000, seed=5))
    lines = [item.text.encode() for item in items]
    records = (
        build_parser("combined")
        .parse_batch(LineBatch("sim", "f", lines, list(range(len(lines))), len(lines)))
        .records
    )
    times = [r.observed_at for r in records]
    assert times == sorted(t for t in times if t is not None)
    assert times[-1] is not None and times[0] is not None
    assert (times[-1] - times[0]).total_seconds() > 80_000
    ips = {r.client_ip for r in records}
    assert len(ips) > 500
    assert any(":" in ip for ip in ips)
    assert {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"} <= {r.method for r in records}
    assert {200, 201, 204, 301, 302, 304, 404} <= {r.status for r in records}
    benign_queries = " ".join(r.query for r in records if items[r.offset].label is None)
    for tricky in ("select+comfort", "union+jack", "o%27reilly", "utm_source", "gclid="):
        assert tricky in benign_queries
    agents = " ".join(r.user_agent for r in records)
    for family in ("Chrome/", "Firefox/", "Googlebot", "okhttp", "sqlmap", "kube-probe"):
        assert family in agents


def test_attacks_sit_where_attackers_put_them() -> None:
    items = list(generate(60_000, seed=11))
    by_label: dict[str, list[str]] = {}
    for item in items:
        if item.label is not None:
            by_label.setdefault(item.label, []).append(item.text)
    assert any("jndi" in line.split('"')[-2] for line in by_label["log4shell"])  # user agent
    assert any("%27" in line or "'" in line for line in by_label["sqli"])
    assert any("/.git/" in line or "/.env" in line for line in by_label["sensitive-file"])
    assert any("\\x16\\x03" in line for line in by_label["scanner"])
    # Payloads are URL-encoded as clients send them: a request line is method, target, protocol
    # (only the scanner family sends things that are not HTTP at all).
    for label, lines in by_label.items():
        for line in lines:
            parts = line.split('"')[1].split(" ")
            assert len(parts) == 3 or label == "scanner", line


def test_nginx_escape() -> None:
    assert nginx_escape("plain text") == "plain text"
    assert nginx_escape('say "hi" \\ café') == "say \\x22hi\\x22 \\x5C caf\\xC3\\xA9"


def test_write_log_plain_and_gzip_with_labels(tmp_path: Path) -> None:
    plain = tmp_path / "a.log"
    packed = tmp_path / "a.log.gz"
    labels = tmp_path / "a.labels"
    counts = write_log(plain, 25_000, 9, labels_path=labels)
    write_log(packed, 25_000, 9)
    text = plain.read_bytes()
    assert gzip.decompress(packed.read_bytes()) == text
    lines = text.decode().splitlines()
    assert len(lines) == 25_000
    assert sum(counts.values()) == 25_000
    label_lines = labels.read_text().splitlines()
    assert len(label_lines) == 25_000
    assert label_lines.count("-") == counts["benign"]
    assert [g.text for g in generate(25_000, 9)] == lines
