"""Finding 7: what answers without a key. /health without a key is liveness only; its counters
need a key and show only that key's sites. /metrics label values come only from vigil and its
configuration, so a writer choosing ingest source names cannot add series."""

from __future__ import annotations

import asyncio

from tests.security.conftest import LiveApi, access_line


def _series(metrics_text: str, name: str) -> set[str]:
    return {line.split(" ")[0] for line in metrics_text.splitlines() if line.startswith(name + "{")}


async def test_health_without_a_key_is_liveness_only(live: LiveApi) -> None:
    await live.ingest("a", [access_line("203.0.113.1", "/")])
    await live.ingest("b", [access_line("203.0.113.2", "/"), access_line("203.0.113.3", "/")])

    anonymous = (await live.client.get("/health")).json()
    assert anonymous["status"] == "ok"
    assert anonymous.get("pipeline") is None

    only_a = (await live.client.get("/health", headers=await live.key("read", ["a"]))).json()
    assert only_a["pipeline"]["sites"] == {"a": only_a["pipeline"]["sites"]["a"]}
    assert only_a["pipeline"]["sites"]["a"]["lines"] == 1
    assert "totals" not in only_a["pipeline"] and "stages" not in only_a["pipeline"]

    everything = (await live.client.get("/health", headers=live.admin)).json()
    assert set(everything["pipeline"]["sites"]) == {"a", "b"}
    assert everything["pipeline"]["totals"]["lines"] == 3

    wrong = await live.client.get("/health", headers={"X-API-Key": "wrong"})
    assert wrong.status_code == 401


async def test_metrics_labels_come_only_from_configuration(live: LiveApi) -> None:
    before = _series((await live.client.get("/metrics")).text, "vigil_lines_in_total")
    for n in range(40):
        body = {"source": f"writer-chosen-{n}", "site": "a", "lines": ["x"]}
        response = await live.client.post("/ingest/batch", json=body, headers=live.admin)
        while response.status_code == 429:  # the pipeline is full: retry, as a writer would
            await asyncio.sleep(0.05)
            response = await live.client.post("/ingest/batch", json=body, headers=live.admin)
        assert response.status_code == 202
    after = _series((await live.client.get("/metrics")).text, "vigil_lines_in_total")
    added = after - before
    assert len(added) <= 1, added
    assert not any("writer-chosen" in series for series in after)
