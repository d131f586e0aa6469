"""GET /stats: counts per bucket by severity and category, tops, ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
