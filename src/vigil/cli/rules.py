"""``vigil rules``: list the detection rules, run their examples, explain a verdict."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from vigil.errors import InputError, VigilError

if TYPE_CHECKING:
    from vigil.batch import LogRecord
    from vigil.detect.ruleset import Ruleset


rules_app = typer.Typer(
    help="Inspect and test the request detection rules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")

RulesDirOption = typer.Option(
    None, "--rules-dir", help="extra directory of rule files (repeatable); default from settings"
)


def _guarded(action: Callable[[], T]) -> T:
    """Run `action`, turning a vigil error into one line on stderr and its exit code."""
    try:
        return action()
    except VigilError as exc:
        _err.print(f"vigil: {exc}", markup=False)
        raise typer.Exit(exc.exit_code) from None


def _ruleset(rules_dirs: list[Path] | None) -> Ruleset:
    from vigil.detect.ruleset import load_ruleset

    if rules_dirs is None:
        from vigil.config import load_settings

        return load_ruleset(load_settings().rules_dirs)
    return load_ruleset(rules_dirs)


@rules_app.command("list")
def list_rules(
    category: str | None = typer.Option(None, "--category", "-c", help="only this category"),
    paranoia: int | None = typer.Option(
        None, "--paranoia", "-p", min=1, max=4, help="only rules active at this level"
    ),
    rules_dir: list[Path] | None = RulesDirOption,
) -> None:
    """List rules: id, category, paranoia level, points and name."""
    from rich.table import Table

    ruleset = _guarded(lambda: _ruleset(rules_dir))
    rules = [
        rule
        for rule in ruleset
        if (category is None or rule.category == category)
        and (paranoia is None or rule.paranoia <= paranoia)
    ]
    table = Table("id", "category", "PL", "score", "name", box=None)
    for rule in rules:
        table.add_row(rule.id, rule.category, str(rule.paranoia), str(rule.points), rule.name)
    _out.print(table)
    _out.print(f"{len(rules)} rules")


@rules_app.command("test")
def test_rules(
    rules_dir: list[Path] | None = RulesDirOption,
    matcher: str = typer.Option("auto", help="auto, hyperscan or re"),
) -> None:
    """Run every rule's must_match / must_not_match examples; exit 1 if any misbehaves."""
    from vigil.detect.examples import ExampleRunner

    ruleset = _guarded(lambda: _ruleset(rules_dir))
    failures = ExampleRunner(ruleset, matcher=matcher).failures()
    examples = sum(len(r.must_match) + len(r.must_not_match) for r in ruleset)
    for failure in failures:
        _out.print(f"FAIL {escape(failure.describe())}")
    _out.print(f"{len(ruleset)} rules, {examples} examples, {len(failures)} failures")
    if failures:
        raise typer.Exit(1)


def _record(text: str, user_agent: str, referer: str) -> LogRecord:
    """A record for a log line (through vigil's log parser) or a bare request line."""
    from vigil.batch import LogRecord
    from vigil.detect.samples import record_from_request, record_from_text

    text = text.strip()
    if not text:
        raise InputError("give a log line or a request line such as 'GET /x?id=1 HTTP/1.1'")
    from vigil.ingest.parser import parse_line

    parsed = parse_line(text)
    if isinstance(parsed, LogRecord) and not parsed.malformed:
        return parsed._replace(
            user_agent=user_agent or parsed.user_agent, referer=referer or parsed.referer
        )
    if user_agent or referer:
        return record_from_request(text, user_agent=user_agent, referer=referer)
    return record_from_text(text)


def _profile_verdict(record: Any, site: str | None) -> dict[str, Any] | None:
    """The stored profile's verdict on `record` (None without a stored profile that judges)."""
    from sqlalchemy.engine import make_url

    from vigil.cli.models import _run_db
    from vigil.config import load_settings
    from vigil.detect.profile.judge import ProfileJudge

    settings = load_settings()
    if settings.is_sqlite:
        database = make_url(settings.database_url).database
        if not database or not Path(database).exists():
            return None
    name = site or settings.site

    async def load() -> Any:
        from vigil.db.session import get_db_context
        from vigil.services.profiles import get_profile

        async with get_db_context() as session:
            return await get_profile(session, name)

    try:
        profile = _run_db(settings, load())
    except Exception:  # no profiles table yet, or no database: nothing to judge with
        return None
    if profile is None or not profile.judging:
        return None
    verdict = ProfileJudge(profile).judge_request(
        record.method, record.path, record.query, record.status
    )
    return {"site": name, **verdict.to_dict()}


def _print_explanation(data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table("target", "raw", "decoded", "signals", box=None)
    for target in data["targets"]:
        table.add_row(
            escape(target["target"]),
            escape(target["raw"][:80]),
            escape(target["decoded"][:80]),
            ", ".join(target["signals"]),
        )
        for view, text in target["views"].items():
            table.add_row("", f"[dim]{view}[/dim]", escape(text[:80]), "")
    _out.print(table)
    if data["matches"]:
        matches = Table("rule", "category", "target", "points", "fragment", box=None)
        for match in data["matches"]:
            matches.add_row(
                match["rule_id"],
                match["category"],
                escape(match["target"]),
                str(match["points"]),
                escape(match["fragment"]),
            )
        _out.print(matches)
    else:
        _out.print("no rule fired")
    for judged in data.get("site_judgement", []):
        for outcome in ("probe", "served"):
            verdict = judged[outcome]
            _out.print(
                f"{judged['rule_id']}: {verdict['severity']} ({verdict['score']:.2f}) when "
                f"{escape(verdict['when'])}"
            )
    if data.get("cve"):
        _out.print(f"known vulnerabilities: {', '.join(data['cve'])}")
    profile = data.get("profile")
    if profile is not None:
        _out.print(f"site profile of {escape(profile['site'])}: {profile['score']:.2f}")
        for reason in profile["reasons"]:
            _out.print(f"  {escape(reason)}")
    color = {"HIGH": "red", "MEDIUM": "yellow"}.get(data["severity"], "green")
    _out.print(
        f"score [bold]{data['score']:.2f}[/bold] ([{color}]{data['severity']}[/{color}]), "
        f"{data['points']} points at paranoia level {data['paranoia_level']}"
        + (f"; signals: {', '.join(data['signals'])}" if data["signals"] else "")
    )


@rules_app.command("explain")
def explain(
    line: str = typer.Argument(..., help="an access-log line or a request line"),
    user_agent: str = typer.Option("", "--user-agent", "-A", help="user agent to add"),
    referer: str = typer.Option("", "--referer", help="referer to add"),
    paranoia: int | None = typer.Option(None, "--paranoia", "-p", min=1, max=4),
    rules_dir: list[Path] | None = RulesDirOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    site: str | None = typer.Option(
        None, "--site", help="judge against this site's stored profile (default: VIGIL_SITE)"
    ),
) -> None:
    """Show how one request decodes, which rules fire on what, its score, and which
    expectations of the site's learned profile it breaks."""
    from vigil.detect.engine import DetectionEngine
    from vigil.detect.exclusions import ExclusionSet
    from vigil.detect.served import ServedJudge

    def run() -> dict[str, Any]:

        ruleset = _ruleset(rules_dir)
        level = paranoia
        if level is None:
            from vigil.config import load_settings

            level = load_settings().paranoia_level
        engine = DetectionEngine(ruleset, paranoia_level=level, exclusions=ExclusionSet())
        record = _record(line, user_agent, referer)
        data = engine.explain(record)
        detection = engine.detect_batch([record])[0]
        data["site_judgement"] = ServedJudge(ruleset.rules).outcomes(detection)
        data["cve"] = sorted({c for m in detection.matches for c in ruleset.by_id[m.rule_id].cve})
        data["profile"] = _profile_verdict(record, site)
        return data

    data = _guarded(run)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    _print_explanation(data)
