"""GET /stats: counts per bucket by severity and category, tops, ranges."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import Api
from tests.api.factories import event_row, insert_events


async def test_counts_buckets_and_tops(api: Api) -> None:
    now = datetime.now(UTC)
    await insert_events(
        [
            event_row(observed_at=now - timedelta(minutes=10), client_ip="10.0.0.1"),
            event_row(observed_at=now - timedelta(minutes=9), client_ip="10.0.0.1"),
            event_row(
                observed_at=now - timedelta(minutes=40),
                severity="MEDIUM",
                score=0.6,
                categories=["xss", "scanner"],
                rules=["941100"],
                client_ip="10.0.0.2",
                path="/search",
            ),
            event_row(observed_at=now - timedelta(days=3)),
        ]
    )
    response = await api.client.get("/stats", params={"range": "1h"}, headers=await api.key())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totals"] == {"HIGH": 2, "MEDIUM": 1, "LOW": 0}
    assert body["categories"] == {"sqli": 2, "scanner": 1, "xss": 1}
    assert body["bucket_seconds"] == 60
    assert sum(sum(b["severities"].values()) for b in body["buckets"]) == 3
    assert sum(b["categories"].get("xss", 0) for b in body["buckets"]) == 1
    assert 55 <= len(body["buckets"]) <= 62
    assert body["top_ips"][0] == {"value": "10.0.0.1", "count": 2, "max_score": 0.9}
    assert body["top_paths"][0]["value"] == "/login"
    assert [r["value"] for r in body["top_rules"]] == ["942100", "941100"]

    week = await api.client.get("/stats", params={"range": "7d"}, headers=await api.key())
    assert week.json()["totals"]["HIGH"] == 3


async def test_explicit_range(api: Api) -> None:
    start = datetime(2025, 5, 1, tzinfo=UTC)
    await insert_events([event_row(observed_at=start + timedelta(hours=h)) for h in range(5)])
    params = {"from": start.isoformat(), "to": (start + timedelta(hours=3)).isoformat()}
    response = await api.client.get("/stats", params=params, headers=await api.key())
    assert response.status_code == 200
    assert response.json()["totals"]["HIGH"] == 3


async def test_bad_ranges_are_422(api: Api) -> None:
    headers = await api.key()
    for params in (
        {"range": "2y"},
        {"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
        {"from": "2010-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
        {"from": "1900-01-01T00:00:00Z"},
        {"top": 0},
    ):
        response = await api.client.get("/stats", params=params, headers=headers)
        assert response.status_code == 422, params


async def test_chart_buckets_sum_whole_rollup_rows(api: Api) -> None:
    """Hour rows are summed into 3-hour chart buckets over a week and day rows into days over
    a month, each event in the bucket holding its time."""
    start = datetime(2025, 5, 1, tzinfo=UTC)
    hours = [0, 2, 3, 26, 50, 50]
    await insert_events(
        [
            event_row(observed_at=start + timedelta(hours=h, minutes=30), severity=severity)
            for h, severity in zip(hours, ["HIGH", "MEDIUM"] * 3, strict=True)
        ]
    )
    headers = await api.key()

    async def chart(days: int) -> tuple[int, dict[str, dict[str, int]]]:
        params = {"from": start.isoformat(), "to": (start + timedelta(days=days)).isoformat()}
        body = (await api.client.get("/stats", params=params, headers=headers)).json()
        filled = {b["start"]: b["severities"] for b in body["buckets"] if b["severities"]}
        return body["bucket_seconds"], filled

    def at(hours: int) -> str:
        return (start + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")

    size, week = await chart(7)
    assert size == 3 * 3600
    assert {_z(k): v for k, v in week.items()} == {
        at(0): {"HIGH": 1, "MEDIUM": 1},
        at(3): {"HIGH": 1},
        at(24): {"MEDIUM": 1},
        at(48): {"HIGH": 1, "MEDIUM": 1},
    }
    size, month = await chart(30)
    assert size == 86400
    assert {_z(k): v for k, v in month.items()} == {
        at(0): {"HIGH": 2, "MEDIUM": 1},
        at(24): {"MEDIUM": 1},
        at(48): {"HIGH": 1, "MEDIUM": 1},
    }


def _z(moment: str) -> str:
    return moment.replace("+00:00", "Z")


async def test_day_rows_and_hour_rows_give_the_same_numbers(api: Api) -> None:
    """A week that starts and ends mid-day reads its whole days from day rows and its first and
    last hours from hour rows; a 24-hour window that starts mid-day reads hour rows only. Over the
    same events both give the counts of exactly the events inside the window: the week's top
    lists and totals are the sums of its seven 24-hour windows', and a month (day rows only,
    widened to whole days) counts the events of the days it covers."""
    start = datetime(2025, 6, 2, 7, tzinfo=UTC)
    offsets = [-0.5, 0.1, 5, 16.9, 17.5, 30, 41, 60, 99, 120, 150, 167.5, 167.99, 168.2]
    rows = []
    for n, hours in enumerate(offsets):
        rows.append(
            event_row(
                observed_at=start + timedelta(hours=hours),
                client_ip=f"10.0.0.{n % 4}",
                path=f"/p{n % 3}",
                rules=[f"9421{n % 5:02d}"],
                severity="HIGH" if n % 2 else "MEDIUM",
                categories=["sqli", "xss"] if n % 3 else ["sqli"],
            )
        )
    await insert_events(rows)
    headers = await api.key()

    async def stats(since: datetime, until: datetime) -> dict[str, Any]:
        params = {"from": since.isoformat(), "to": until.isoformat(), "top": 100}
        response = await api.client.get("/stats", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def counts(body: dict[str, Any]) -> dict[str, Counter[str]]:
        out = {name: Counter({r["value"]: r["count"] for r in body[name]}) for name in _TOPS}
        out["totals"] = Counter(body["totals"])
        out["categories"] = Counter(body["categories"])
        return out

    def expected(since: datetime, until: datetime) -> dict[str, Counter[str]]:
        inside = [r for r in rows if since <= r["observed_at"] < until]
        return {
            "top_ips": Counter(r["client_ip"] for r in inside),
            "top_paths": Counter(r["path"] for r in inside),
            "top_rules": Counter(m["rule_id"] for r in inside for m in r["matched_rules"]),
            "totals": Counter({"HIGH": 0, "MEDIUM": 0, "LOW": 0})
            + Counter(r["severity"] for r in inside),
            "categories": Counter(c for r in inside for c in r["categories"]),
        }

    week_end = start + timedelta(days=7)
    week = await stats(start, week_end)
    assert week["resolution"] == "h"
    assert counts(week) == expected(start, week_end)
    days: dict[str, Counter[str]] = {name: Counter() for name in (*_TOPS, "totals", "categories")}
    for day in range(7):
        body = await stats(start + timedelta(days=day), start + timedelta(days=day + 1))
        for name, found in counts(body).items():
            days[name] += found
    assert counts(week) == {name: +found for name, found in days.items()}
    # Top lists are ordered by count, then value.
    ips = [(r["value"], r["count"]) for r in week["top_ips"]]
    assert ips == sorted(ips, key=lambda vc: (-vc[1], vc[0]))

    month = await stats(start, start + timedelta(days=30))
    assert month["resolution"] == "d"
    midnight = start.replace(hour=0)
    assert counts(month) == expected(midnight, midnight + timedelta(days=31))


_TOPS = ("top_ips", "top_paths", "top_rules")
