"""`vigil agent`, `vigil worker` and `vigil cluster status`: vigil over Redis Streams."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys

import typer

from vigil.cli.console import out

cluster_app = typer.Typer(
    help="The cluster of agents and workers over Redis.", no_args_is_help=True
)


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s level=%(levelname)s %(name)s %(message)s")


def agent(
    log_paths: str = typer.Option(
        None, "--paths", help="comma-separated files or globs (default: VIGIL_LOG_PATHS)"
    ),
    name: str = typer.Option(None, "--name", help="agent name (default: VIGIL_AGENT_NAME)"),
) -> None:
    """Tail the logs of this web server into the cluster's Redis streams."""
    import asyncio

    from vigil.config import settings_with
    from vigil.errors import ConfigError
    from vigil.sources.agent import run_agent

    settings = settings_with(log_paths=log_paths, agent_name=name)
    if not settings.log_paths:
        raise ConfigError("nothing to tail: give --paths or set VIGIL_LOG_PATHS")
    _logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_agent(settings))


def worker() -> None:
    """Analyse and store the partitions this worker holds a lease on, until stopped (SIGTERM or
    Ctrl+C hand every partition back: drained, snapshotted, released)."""
    import asyncio

    from vigil.config import get_settings
    from vigil.pipeline.worker import run_worker
    from vigil.runtime import tune_gc

    settings = get_settings()
    _logging(settings.log_level)
    tune_gc()

    async def until_stopped() -> None:
        # SIGTERM cancels the worker like Ctrl+C does, so it hands its partitions back instead
        # of leaving them to wait for their leases to expire.
        task = asyncio.ensure_future(run_worker(settings))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(until_stopped())


@cluster_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Partitions, their owners and lag (entries, seconds), workers and agents."""
    import asyncio

    from rich.table import Table

    from vigil.config import get_settings
    from vigil.errors import ConfigError
    from vigil.services.cluster import cluster_status

    settings = get_settings()
    if not settings.redis_url:
        raise ConfigError("VIGIL_REDIS_URL must be set to read the cluster's status")

    async def read() -> dict[str, object]:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url or "", socket_connect_timeout=3)
        try:
            return (await cluster_status(redis, settings.redis_prefix)).as_dict()
        finally:
            await redis.aclose()

    shown = asyncio.run(read())
    if as_json:
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    table = Table("partition", "owner", "entries", "lag entries", "lag s", "snapshot", box=None)
    for row in shown["partitions"]:  # type: ignore[attr-defined]
        table.add_row(
            str(row["partition"]),
            row["owner"] or "-",
            str(row["length"]),
            str(row["lag_entries"]),
            f"{row['lag_seconds']:.1f}",
            row["snapshot_position"] or "-",
        )
    out.print(table)
    for kind in ("workers", "agents"):
        seen = shown[kind]
        assert isinstance(seen, dict)
        listed = ", ".join(f"{n} ({s:.0f} s ago)" for n, s in sorted(seen.items())) or "none"
        out.print(f"{kind}: {listed}")
