"""The real CrowdSec firewall bouncer (Debian's crowdsec-firewall-bouncer, ipset mode) against
`vigil serve`, both inside a network namespace this test creates, so the host's firewall is
never touched.

Checked on the bouncer's ipsets: a start-up pull installs every active address; an added
decision appears, a lifted one goes, an expired one goes; of two decisions for one address,
lifting one leaves the address blocked; and a restart of vigil between two pulls neither
re-sends everything nor forgets what was lifted while it was down.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.server import free_port
from tests.conftest import configured_with_schema, make_settings
from tests.security.conftest import missing_tool
from vigil.db import migrate
from vigil.db.models import Decision
from vigil.db.session import get_db_context
from vigil.services.keys import create_key

BOUNCER = "crowdsec-firewall-bouncer"
SET_V4 = "vigiltest4"
SET_V6 = "vigiltest6"
ADMIN = "bouncer-test-admin-key-0123456789ab"


def _require_tools() -> None:
    """Skip (or, in CI, fail) with the reason when this test cannot run here."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs Linux and root to create a network namespace (ip netns)")
    for tool, package in (("ip", "iproute2"), ("ipset", "ipset"), (BOUNCER, BOUNCER)):
        if shutil.which(tool) is None:
            missing_tool(f"{tool} is not installed (Debian package {package}; make test as root)")


class Namespace:
    """A network namespace with loopback up; every command of the test runs inside it."""

    def __init__(self) -> None:
        self.name = f"vigil-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Namespace:
        made = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
        self.run("ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str) -> str:
        done = subprocess.run(self.command(*args), capture_output=True, text=True, check=True)
        return done.stdout

    def members(self, set_name: str) -> set[str]:
        saved = self.run("ipset", "save", set_name)
        return {line.split()[2] for line in saved.splitlines() if line.startswith("add ")}

    def blocked(self) -> set[str]:
        return self.members(SET_V4) | self.members(SET_V6)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class Vigil:
    """`vigil serve` on a SQLite file inside the namespace."""

    def __init__(self, ns: Namespace, workdir: Path, database_url: str, port: int) -> None:
        self.ns, self.workdir, self.port = ns, workdir, port
        self.env = {
            **os.environ,
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_API_ADMIN_KEY": ADMIN,
            "VIGIL_HOST": "127.0.0.1",
            "VIGIL_PORT": str(port),
            "VIGIL_STATE_DIR": str(workdir),
            "VIGIL_DETECTION_MODE": "rules",
            "VIGIL_LOG_PATHS": "",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = (self.workdir / f"serve-{self.runs}.log").open("wb")
        vigil = str(Path(sys.executable).with_name("vigil"))
        self.process = subprocess.Popen(
            self.ns.command(vigil, "serve"), env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        probe = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{self.port}/health')"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answered = subprocess.run(
                self.ns.command(sys.executable, "-c", probe), capture_output=True
            )
            if answered.returncode == 0:
                return
            log_text = (self.workdir / f"serve-{self.runs}.log").read_text()
            assert self.process.poll() is None, log_text
            time.sleep(0.2)
        raise AssertionError("vigil serve did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def _bouncer_config(workdir: Path, port: int, key: str) -> Path:
    config = workdir / "bouncer.yaml"
    config.write_text(
        f"""mode: ipset
pid_dir: {workdir}/
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: {workdir}/
log_level: debug
api_url: http://127.0.0.1:{port}/
api_key: {key}
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: {SET_V4}
blacklists_ipv6: {SET_V6}
ipset_type: nethash
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
"""
    )
    return config


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def _steady(check: Callable[[], bool], seconds: float = 3.5) -> bool:
    """Whether `check` holds all along `seconds` (a few of the bouncer's 1 s pulls)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.2)
    return True


class Decisions:
    """Decisions written through vigil's session layer into the database `vigil serve` reads."""

    def __init__(self, database_url: str) -> None:
        self.settings = make_settings(database_url)

    async def _add(self, value: str, expires_in: timedelta | None) -> int:
        now = datetime.now(UTC)
        async with configured_with_schema(self.settings), get_db_context() as session:
            network_scope = "range" if "/" in value else "ip"
            decision = Decision(
                site="default",
                value=value,
                scope=network_scope,
                reason="bouncer test",
                origin="api",
                simulated=False,
                created_at=now,
                expires_at=now + expires_in if expires_in is not None else None,
            )
            session.add(decision)
            await session.flush()
            return decision.id

    async def _lift(self, decision_id: int) -> None:
        async with configured_with_schema(self.settings), get_db_context() as session:
            decision = await session.get(Decision, decision_id)
            assert decision is not None
            decision.deleted_at = datetime.now(UTC)

    async def _key(self) -> str:
        async with configured_with_schema(self.settings), get_db_context() as session:
            _, secret = await create_key(session, name="firewall", scope="read")
        return secret

    def add(self, value: str, expires_in: timedelta | None = timedelta(hours=4)) -> int:
        return asyncio.run(self._add(value, expires_in))

    def lift(self, decision_id: int) -> None:
        asyncio.run(self._lift(decision_id))

    def key(self) -> str:
        return asyncio.run(self._key())


@pytest.fixture
def firewall(tmp_path: Path) -> Iterator[tuple[Namespace, Vigil, Decisions, Path]]:
    _require_tools()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'vigil.db'}"
    migrate.upgrade("head", make_settings(database_url))
    with Namespace() as ns:
        ns.run("ipset", "create", SET_V4, "hash:net", "timeout", "0")
        ns.run("ipset", "create", SET_V6, "hash:net", "family", "inet6", "timeout", "0")
        vigil = Vigil(ns, tmp_path, database_url, free_port())
        try:
            yield ns, vigil, Decisions(database_url), tmp_path
        finally:
            vigil.stop()


def test_the_firewall_bouncer_enforces_vigil_decisions(
    firewall: tuple[Namespace, Vigil, Decisions, Path],
) -> None:
    ns, vigil, decisions, workdir = firewall
    first = decisions.add("203.0.113.10")
    decisions.add("198.51.100.0/24")
    decisions.add("2001:db8::66", expires_in=None)  # no expiry: capped at what ipset takes
    vigil.start()
    bouncer = subprocess.Popen(
        ns.command(BOUNCER, "-c", str(_bouncer_config(workdir, vigil.port, decisions.key()))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Start-up pull: every active address.
        everything = {"203.0.113.10", "198.51.100.0/24", "2001:db8::66"}
        _wait_for(lambda: ns.blocked() == everything, "the start-up pull")

        # Add, lift, expire.
        added = decisions.add("192.0.2.44")
        _wait_for(lambda: "192.0.2.44" in ns.blocked(), "an added decision")
        decisions.lift(first)
        _wait_for(lambda: "203.0.113.10" not in ns.blocked(), "a lifted decision")
        decisions.add("192.0.2.55", expires_in=timedelta(seconds=4))
        _wait_for(lambda: "192.0.2.55" in ns.blocked(), "a short decision")
        _wait_for(lambda: "192.0.2.55" not in ns.blocked(), "an expired decision")

        # Two decisions for one address, one lifted: the address stays blocked.
        short = decisions.add("192.0.2.77", expires_in=timedelta(hours=1))
        decisions.add("192.0.2.77", expires_in=timedelta(hours=8))
        _wait_for(lambda: "192.0.2.77" in ns.blocked(), "a doubly decided address")
        decisions.lift(short)
        assert _steady(lambda: "192.0.2.77" in ns.blocked()), "unblocked while still decided"

        # vigil restarts between two pulls; a decision is lifted while it is down.
        vigil.stop()
        decisions.lift(added)
        vigil.start()
        _wait_for(lambda: "192.0.2.44" not in ns.blocked(), "a lift made while vigil was down")
        remaining = {"198.51.100.0/24", "2001:db8::66", "192.0.2.77"}
        assert _steady(lambda: ns.blocked() == remaining), ns.blocked()
        assert bouncer.poll() is None, "the bouncer exited"
    finally:
        _stop(bouncer)
