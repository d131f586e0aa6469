"""`vigil train` and `vigil models list|activate|rollback`: the machine-learned models."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.table import Table

from vigil.cli.console import err, out
from vigil.errors import InputError, VigilError

if TYPE_CHECKING:
    from vigil.config import Settings

T = TypeVar("T")

models_app = typer.Typer(help="List, activate and roll back trained models.", no_args_is_help=True)


class GatesFailedError(VigilError):
    """A trained model did not pass its validation gates."""

    exit_code = 3


def _run_db(settings: Settings, job: Awaitable[T]) -> T:
    import asyncio

    from vigil.db.session import open_database

    async def wrapped() -> T:
        async with open_database(settings):
            return await job

    return asyncio.run(wrapped())


async def _train_profile(settings: Settings, baseline: Path, site: str) -> dict[str, Any]:
    """Learn `site`'s stored profile (or a new one) further from the log `baseline`."""
    import asyncio

    from vigil.db.session import get_db_context, open_database
    from vigil.pipeline.assembly import ensure_schema
    from vigil.services.profiles import get_profile
    from vigil.training.profile import learn_profile, store_profile

    async with open_database(settings, prepare=ensure_schema):
        async with get_db_context() as session:
            base = await get_profile(session, site)
        records = _baseline_records(baseline, settings)
        profile, counts = await asyncio.to_thread(learn_profile, records, settings, site, base)
        return {**await store_profile(profile), **counts}


def _progress(fraction: float, message: str) -> None:
    err.print(f"[{fraction:4.0%}] {message}")


def _baseline_records(path: Path, settings: Settings) -> Iterator[Any]:
    from vigil.batch import LineBatch
    from vigil.ingest.parser import build_parser

    if not path.exists():
        raise InputError(f"baseline log not found: {path}")
    parser = build_parser(settings.log_format, trusted_proxies=settings.trusted_proxies)
    lines: list[bytes] = []
    offsets: list[int] = []
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            lines.append(line.rstrip(b"\n"))
            offsets.append(offset)
            offset += len(line)
            if len(lines) >= 4096:
                yield from parser.parse_batch(
                    LineBatch(str(path), "baseline", lines, offsets, offset)
                ).records
                lines, offsets = [], []
    if lines:
        yield from parser.parse_batch(
            LineBatch(str(path), "baseline", lines, offsets, offset)
        ).records


def train_cmd(
    seed: int = typer.Option(
        7, "--seed", help="seed for the split, the folds and generated traffic"
    ),
    out_dir: Path = typer.Option(
        None,
        "--out",
        help="write the model here and nothing else (e.g. src/vigil/models for the shipped one)",
    ),
    datasets: Path = typer.Option(
        None, "--datasets", help="HttpParams directory (default: data/httpparams of the checkout)"
    ),
    from_db: bool = typer.Option(
        False, "--from-db", help="add the analyst-reviewed events of the database"
    ),
    baseline: Path = typer.Option(
        None, "--baseline", help="fit the site anomaly model to this access log instead"
    ),
    traffic_lines: int = typer.Option(
        40_000, "--traffic-lines", help="generated lines whose benign values are negatives"
    ),
    site: str = typer.Option(
        None,
        "--site",
        help="with --baseline: learn this site's profile from the log (stored in the database)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Train the classifier (or, with --baseline, the site anomaly model) and record it."""
    from vigil.config import get_settings
    from vigil.training import retrain, train

    settings = get_settings()
    result: dict[str, Any]
    if site is not None and baseline is None:
        raise InputError("--site learns a site profile from a log: give it with --baseline FILE")
    if baseline is not None and site is not None:
        result = _run_db(settings, _train_profile(settings, baseline, site))
    elif baseline is not None:
        records = list(_baseline_records(baseline, settings))
        fitted = retrain.fit_baseline(records)
        if out_dir is not None:
            fitted.save(out_dir)
            result = {"version": fitted.version, "records": len(records), "artifact": str(out_dir)}
        else:
            result = _run_db(settings, retrain.register_baseline(settings, fitted, len(records)))
            result["records"] = len(records)
    elif out_dir is not None:
        if from_db:
            raise InputError("--from-db registers the model; drop --out, or drop --from-db")
        config = train.TrainConfig(seed=seed, datasets=datasets, traffic_lines=traffic_lines)
        trained = train.train(config)
        if not trained.passed:
            raise GatesFailedError("validation gates failed: " + "; ".join(trained.failed_gates))
        manifest = train.export(trained, out_dir)
        result = {k: manifest[k] for k in ("version", "metrics", "training_samples", "onnx_bytes")}
        result["artifact"] = str(out_dir)
    else:
        config = train.TrainConfig(seed=seed, datasets=datasets, traffic_lines=traffic_lines)
        result = _run_db(
            settings,
            retrain.train_and_register(settings, config, from_db=from_db, progress=_progress),
        )
        if result["failed_gates"]:
            raise GatesFailedError(
                f"model {result['version']} recorded but not activated: "
                + "; ".join(result["failed_gates"])
            )
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    for key, value in result.items():
        out.print(f"{key}: {value}")


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Show every recorded model version, its metrics and which one is active."""
    from vigil.config import get_settings
    from vigil.training import registry

    infos = _run_db(get_settings(), registry.list_models())
    if as_json:
        out.print_json(json.dumps([i.to_dict() for i in infos], default=str))
        return
    table = Table("active", "type", "version", "created", "samples", "f1", "pr_auc", box=None)
    for info in infos:
        table.add_row(
            "*" if info.is_active else "",
            info.model_type,
            info.version,
            info.created_at.strftime("%Y-%m-%d %H:%M") if info.created_at else "",
            str(info.training_samples),
            str(info.metrics.get("f1", "")),
            str(info.metrics.get("pr_auc", "")),
        )
    out.print(table)


@models_app.command("activate")
def activate_cmd(
    version: str = typer.Argument(..., help="version to activate (see `vigil models list`)"),
    force: bool = typer.Option(False, "--force", help="activate even if its gates failed"),
) -> None:
    """Make VERSION the active model of its type."""
    from vigil.config import get_settings
    from vigil.training import registry

    info = _run_db(get_settings(), registry.activate(version, force=force))
    err.print(f"active {info.model_type}: {info.version}")


@models_app.command("rollback")
def rollback_cmd(
    model_type: str = typer.Option("classifier", "--type", help="classifier or anomaly"),
) -> None:
    """Activate the version recorded before the active one."""
    from vigil.config import get_settings
    from vigil.training import registry

    info = _run_db(get_settings(), registry.rollback(model_type))
    err.print(f"active {info.model_type}: {info.version}")
