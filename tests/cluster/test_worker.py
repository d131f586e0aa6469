"""`vigil worker` processes against a real Redis and PostgreSQL: a worker killed with SIGKILL
mid-stream is replaced by another, which takes its partitions over when the leases expire,
restores the behaviour windows from the snapshot and reads again from there. Every attack line
is stored exactly once, and a scan whose requests alternate between two agents' logs — half
before the kill, half after — is detected as one client's scan."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cluster.conftest import batch_of, eventually, line, redis_url
from tests.conftest import fresh_postgres
from tests.support.processes import terminate
from vigil.config import load_settings
from vigil.db import migrate
from vigil.services.cluster import cluster_status
from vigil.sources.agent import StreamWriter
from vigil.sources.clientsplit import ClientSplitter
from vigil.sources.streams import StreamKeys, ensure_partitions

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

PARTITIONS = 4
SCANNER = "192.0.2.66"


def _worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil", "worker"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=open(cwd / f"worker-{uuid.uuid4().hex[:6]}.log", "wb"),
    )


async def _rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


def worker_env(url: str, prefix: str, partitions: int, **extra: str) -> dict[str, str]:
    """The environment of a `vigil worker` of the test's database and Redis prefix (leases of
    2 s, rules only, nothing pruned), with `extra` settings on top."""
    return {
        **os.environ,
        "VIGIL_DATABASE_URL": url,
        "VIGIL_REDIS_URL": redis_url(),
        "VIGIL_REDIS_PREFIX": prefix,
        "VIGIL_CLUSTER_PARTITIONS": str(partitions),
        "VIGIL_CLUSTER_LEASE_SECONDS": "2",
        "VIGIL_DETECTION_MODE": "rules",
        "VIGIL_RETENTION_DAYS": "0",
        **extra,
    }


async def stored_tokens(url: str) -> dict[str, int]:
    """How many stored events carry each attack token (`t=<32 hex>` in the query)."""
    rows = await _rows(
        url,
        "SELECT substring(query from 't=([0-9a-f]{32})'), count(*) FROM threat_events "
        "WHERE query LIKE 't=%' GROUP BY 1",
    )
    return {token: int(count) for token, count in rows}


class _Agents:
    """Two web servers' logs written straight into the streams, as two agents send them."""

    def __init__(self, redis: Any, keys: StreamKeys) -> None:
        splitter = ClientSplitter("combined")
        self.writers = {
            name: StreamWriter(
                redis, keys, PARTITIONS, splitter, agent=name, site="shop", max_backlog=100_000
            )
            for name in ("web1", "web2")
        }
        self.offsets = {"web1": 0, "web2": 0}
        self.tokens: list[str] = []
        self.scan_paths = 0

    async def send(self, agent: str, lines: list[bytes]) -> None:
        batch = batch_of(lines, file_id="access", start=self.offsets[agent])
        self.offsets[agent] = batch.end_offset
        await self.writers[agent].send(batch)

    async def traffic(self, rounds: int, scan: int) -> None:
        """`rounds` of benign lines and attacks with a unique token each, from both agents;
        `scan` more missing paths of the scanner, alternating between the agents."""
        for n in range(rounds):
            for agent in ("web1", "web2"):
                token = uuid.uuid4().hex
                self.tokens.append(token)
                lines = [line(f"198.51.100.{(n * 7 + i) % 250 + 1}", f"/p/{i}") for i in range(20)]
                lines.append(
                    line(
                        f"203.0.113.{n % 250 + 1}",
                        f"/item.php?t={token}&id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
                    )
                )
                await self.send(agent, lines)
            await asyncio.sleep(0.02)
        for _ in range(scan):
            agent = ("web1", "web2")[self.scan_paths % 2]
            await self.send(agent, [line(SCANNER, f"/old/missing-{self.scan_paths}", 404)])
            self.scan_paths += 1


async def test_killed_worker_is_replaced_without_a_lost_or_doubled_event(
    tmp_path: Path, cluster: tuple[Any, str]
) -> None:
    redis, prefix = cluster
    keys = StreamKeys(prefix)
    async with fresh_postgres() as url:
        settings = load_settings(database_url=url)
        await asyncio.to_thread(migrate.upgrade, "head", settings)
        env = worker_env(url, prefix, PARTITIONS, VIGIL_BEHAVIOUR_SNAPSHOT_SECONDS="0.5")
        await ensure_partitions(redis, keys, PARTITIONS)
        agents = _Agents(redis, keys)
        first = _worker(env, tmp_path)
        second: subprocess.Popen[bytes] | None = None
        try:
            await agents.traffic(rounds=40, scan=20)

            async def stored_some() -> bool:
                rows = await _rows(url, "SELECT count(*) FROM threat_events")
                return rows[0][0] >= 20

            await eventually(stored_some, timeout=120, what="first events stored")

            async def caught_up() -> bool:
                status = await cluster_status(redis, prefix)
                snapshots = [p.snapshot_position for p in status.partitions]
                return status.lag_entries == 0 and all(snapshots)

            await eventually(caught_up, timeout=120, what="first worker caught up and snapshotted")
            await asyncio.sleep(1.5)  # a snapshot after the last entry
            await agents.traffic(rounds=10, scan=0)
            first.kill()
            first.wait()
            await agents.traffic(rounds=40, scan=20)
            second = _worker(env, tmp_path)

            async def drained() -> bool:
                status = await cluster_status(redis, prefix)
                return status.lag_entries == 0 and all(p.owner for p in status.partitions)

            await eventually(drained, timeout=120, what="second worker caught up")
            await asyncio.sleep(1.0)
        finally:
            first.kill()
            first.wait()
            if second is not None:
                terminate(second)
        counts = await stored_tokens(url)
        assert len(agents.tokens) == 180
        missing = [t for t in agents.tokens if t not in counts]
        doubled = {t: n for t, n in counts.items() if n != 1}
        assert not missing and not doubled
        keys_rows = await _rows(
            url, "SELECT count(*), count(DISTINCT event_key) FROM threat_events"
        )
        assert keys_rows[0][0] == keys_rows[0][1]
        scans = await _rows(
            url,
            "SELECT count(*) FROM threat_events WHERE client_ip = :ip "
            "AND categories::text LIKE '%scan%'",
            ip=SCANNER,
        )
        # 40 missing paths, 20 before the kill and 20 after: only the restored windows see 30.
        assert scans[0][0] >= 1


async def test_partitions_move_when_workers_join_and_leave(
    tmp_path: Path, cluster: tuple[Any, str]
) -> None:
    """A worker joins (partitions are handed over after a drain) and one leaves gracefully
    (its partitions go to the others): each is owned by one worker, every line stored once."""
    redis, prefix = cluster
    keys = StreamKeys(prefix)
    async with fresh_postgres() as url:
        settings = load_settings(database_url=url)
        await asyncio.to_thread(migrate.upgrade, "head", settings)
        env = worker_env(url, prefix, PARTITIONS)
        await ensure_partitions(redis, keys, PARTITIONS)
        agents = _Agents(redis, keys)
        workers = [_worker(env, tmp_path)]
        try:

            async def owners(expected: int) -> bool:
                status = await cluster_status(redis, prefix)
                held = [p.owner for p in status.partitions]
                return all(held) and len(set(held)) == expected

            await eventually(
                owners_of(owners, 1), timeout=120, what="one worker owns every partition"
            )
            await agents.traffic(rounds=20, scan=0)
            workers.append(_worker(env, tmp_path))
            await agents.traffic(rounds=20, scan=0)

            async def shared_evenly() -> bool:
                status = await cluster_status(redis, prefix)
                held = [p.owner for p in status.partitions]
                return all(held) and sorted(held.count(w) for w in set(held)) == [2, 2]

            await eventually(shared_evenly, timeout=120, what="partitions shared by two workers")
            await agents.traffic(rounds=10, scan=0)
            terminate(workers.pop(0))
            await agents.traffic(rounds=20, scan=0)

            async def drained() -> bool:
                status = await cluster_status(redis, prefix)
                return status.lag_entries == 0 and await owners(1)

            await eventually(drained, timeout=120, what="the last worker caught up")
        finally:
            for process in workers:
                terminate(process)
        counts = await stored_tokens(url)
        assert len(agents.tokens) == 140
        assert sorted(counts) == sorted(agents.tokens)
        assert set(counts.values()) == {1}


def owners_of(check: Any, expected: int) -> Any:
    async def run() -> bool:
        return bool(await check(expected))

    return run
