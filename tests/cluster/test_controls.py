"""Allowlist and exclusion changes made through a cluster's API node reach a running worker
(real Redis and PostgreSQL, the worker a process of its own): the API node raises the
controls counter, the worker re-reads the stored entries and puts them in force in every
partition's pipeline without a restart. Its periodic re-read is set far beyond the test, so
only the counter can have carried the change."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.api.server import serving
from tests.cluster.conftest import eventually, line, redis_url
from tests.cluster.test_worker import _rows, _worker, stored_tokens, worker_env
from tests.conftest import fresh_postgres
from tests.support.processes import terminate
from vigil.api.app import create_app
from vigil.config import load_settings
from vigil.db import migrate
from vigil.services.cluster import ClusterIngest, cluster_status
from vigil.sources.streams import StreamKeys, ensure_partitions

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

ADMIN = "cluster-admin-key-0123456789abcdef"
PARTITIONS = 3
ALLOWED = "192.0.2.10"
EXCLUDED = "192.0.2.30"
WATCHED = "192.0.2.20"
SQLI = "id=1%27%20UNION%20SELECT%20password%20FROM%20users--"


class _Traffic:
    """Attacks with a unique token each, posted to the API node's `/ingest/batch`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.sent: dict[str, str] = {}

    async def attack(self, client: str, prefix: str = "") -> str:
        token = uuid.uuid4().hex
        self.sent[token] = client
        raw = line(client, f"{prefix}/item.php?t={token}&{SQLI}").decode()
        reply = await self.http.post(
            "/ingest/batch",
            json={"source": "lb", "site": "shop", "lines": [raw]},
            headers={"X-API-Key": ADMIN},
        )
        assert reply.status_code == 202, reply.text
        return token


async def test_allowlist_and_exclusion_changes_reach_a_running_worker(
    tmp_path: Path, cluster: tuple[Any, str]
) -> None:
    from vigil.db.session import close_db, configure_db

    redis, prefix = cluster
    keys = StreamKeys(prefix)
    async with fresh_postgres() as url:
        settings = load_settings(
            database_url=url,
            api_admin_key=SecretStr(ADMIN),
            redis_url=redis_url(),
            redis_prefix=prefix,
            cluster_partitions=PARTITIONS,
        )
        await asyncio.to_thread(migrate.upgrade, "head", settings)
        await ensure_partitions(redis, keys, PARTITIONS)
        env = worker_env(url, prefix, PARTITIONS, VIGIL_CLUSTER_CONTROLS_SECONDS="3600")
        worker = _worker(env, tmp_path)
        configure_db(settings)
        app = create_app(settings, pipeline=ClusterIngest(settings))
        try:
            async with (
                serving(app) as address,
                httpx.AsyncClient(base_url=f"http://{address}") as http,
            ):
                traffic = _Traffic(http)

                async def settled(*tokens: str) -> bool:
                    status = await cluster_status(redis, prefix)
                    stored = await stored_tokens(url)
                    owned = all(p.owner for p in status.partitions)
                    return owned and status.lag_entries == 0 and all(t in stored for t in tokens)

                async def applied() -> None:
                    """Wait until the worker has put the latest change in force."""
                    version = int(await redis.get(keys.controls) or 0)

                    async def logged() -> bool:
                        text = "".join(
                            p.read_text(errors="replace") for p in tmp_path.glob("worker-*.log")
                        )
                        return any(
                            "event=controls_read " in row and row.endswith(f" version={version}")
                            for row in text.splitlines()
                        )

                    await eventually(logged, timeout=60, what=f"controls version {version} applied")

                first = [
                    await traffic.attack(ALLOWED),
                    await traffic.attack(WATCHED),
                    await traffic.attack(EXCLUDED, "/legacy"),
                ]
                await eventually(lambda: settled(*first), timeout=120, what="first attacks stored")
                rules = await _rows(
                    url,
                    "SELECT matched_rules FROM threat_events WHERE query LIKE :q",
                    q=f"t={first[2]}%",
                )
                rule_ids = {m["rule_id"] for m in rules[0][0]}
                assert rule_ids

                allowed = await http.post(
                    "/allowlist",
                    json={"kind": "ip", "value": ALLOWED, "site": "shop", "reason": "scanner"},
                    headers={"X-API-Key": ADMIN},
                )
                assert allowed.status_code == 201, allowed.text
                for rule_id in sorted(rule_ids):
                    excluded = await http.post(
                        "/exclusions",
                        json={"rule_id": rule_id, "site": "shop", "path_prefix": "/legacy/"},
                        headers={"X-API-Key": ADMIN},
                    )
                    assert excluded.status_code == 201, excluded.text
                await applied()

                quiet = [await traffic.attack(ALLOWED), await traffic.attack(EXCLUDED, "/legacy")]
                watched = await traffic.attack(WATCHED)
                elsewhere = await traffic.attack(EXCLUDED, "/shop")
                await eventually(
                    lambda: settled(watched, elsewhere), timeout=120, what="second attacks read"
                )
                stored = await stored_tokens(url)
                assert not [t for t in quiet if t in stored]

                # Removing the entry reaches the worker the same way.
                removed = await http.delete(
                    f"/allowlist/{allowed.json()['id']}", headers={"X-API-Key": ADMIN}
                )
                assert removed.status_code == 204
                await applied()
                again = await traffic.attack(ALLOWED)
                await eventually(lambda: settled(again), timeout=120, what="allowlist removed")
        finally:
            terminate(worker)
            await close_db()
            configure_db(None)
        stored = await stored_tokens(url)
        # Nothing stored twice, and only the attacks sent while the entries were in force missed.
        assert set(stored.values()) == {1}
        assert set(traffic.sent) - set(stored) == set(quiet)
