"""The dashboard as the operator's console, in headless Chromium: every action through the
page, checked through the API; what a key without rights sees; ranges and zoom on last year's
data; incident drill-down; exports; screenshots of the main views on a desktop and a phone."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from playwright.async_api import Page, async_playwright

from tests.api.factories import event_row, insert_decision, insert_events, insert_incident, make_key
from tests.api.server import serving
from tests.browser.support import ARTIFACTS, CHROMIUM_ARGS, chromium
from tests.conftest import make_settings
from vigil.api.app import create_app
from vigil.db.models import Decision, ModelMetadata
from vigil.db.session import get_db_context
from vigil.sinks.rollups import add_traffic

# Last year's data: the default range (the last 24 hours) holds none of it.
OLD = datetime(datetime.now(UTC).year - 1, 3, 14, 12, 0, tzinfo=UTC)


@dataclass
class Console:
    page: Page
    host: str
    key: str
    errors: list[str]
    requests: list[str] = field(default_factory=list)

    async def api(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://{self.host}") as client:
            headers = {"X-API-Key": key or self.key}
            return await client.request(method, path, headers=headers, **kwargs)

    def last(self, path: str) -> dict[str, str]:
        """The query of the page's last request to `path`."""
        for url in reversed(self.requests):
            parts = urlsplit(url)
            if parts.path == path:
                return dict(parse_qsl(parts.query))
        raise AssertionError(f"the page never asked for {path}")

    async def confirm(self) -> None:
        await self.page.wait_for_selector("#confirm[open]")
        await self.page.click("#confirm-ok")


@asynccontextmanager
async def console(
    url: str, key: str, *, width: int = 1440, height: int = 900
) -> AsyncIterator[Console]:
    executable = chromium()
    app = create_app(make_settings(url))
    async with serving(app) as host, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height},
                timezone_id="UTC",
                locale="en-GB",
                accept_downloads=True,
            )
            page = await context.new_page()
            page.set_default_timeout(10_000)
            session = Console(page, host, key, [])
            page.on("pageerror", lambda exc: session.errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: session.errors.append(msg.text) if msg.type == "error" else None,
            )
            page.on("request", lambda r: session.requests.append(r.url))
            await page.goto(f"http://{host}/")
            await page.fill("#key-input", key)
            await page.click("#key-form button[type=submit]")
            await page.wait_for_selector("#key-dialog", state="hidden")
            yield session
        finally:
            await browser.close()


async def _seed_old_data() -> dict[str, int]:
    """Three days of last year's attacks, an incident with behaviour evidence and a decision."""
    incident = await insert_incident(site="shop", client_ip="198.51.100.23", last_seen=OLD)
    rows = []
    for hour in range(72):
        at = OLD - timedelta(hours=hour)
        rows.append(
            event_row(
                site="shop",
                client_ip=f"203.0.113.{hour % 9 + 1}",
                observed_at=at,
                severity="HIGH" if hour % 3 else "MEDIUM",
                score=0.8 if hour % 3 else 0.55,
                path="/search",
                query=f"q=1'+UNION+SELECT+{hour}--",
                categories=["sqli"],
                rules=["942100"],
            )
        )
    events = [
        event_row(
            site="shop",
            client_ip="198.51.100.23",
            observed_at=OLD - timedelta(minutes=m),
            path="/wp-login.php",
            query="",
            categories=["probe"],
            rules=["913100"],
            incident_id=incident,
        )
        for m in range(1, 8)
    ]
    behaviour = event_row(
        site="shop",
        client_ip="198.51.100.23",
        observed_at=OLD - timedelta(seconds=30),
        path="/wp-login.php",
        query="",
        categories=["bruteforce"],
        incident_id=incident,
    )
    behaviour["detection_mode"] = "behaviour"
    behaviour["matched_rules"] = [
        {
            "rule_id": "behaviour:bruteforce",
            "category": "bruteforce",
            "target": "client",
            "fragment": "",
            "evidence": {"failed_logins": 41, "window_seconds": 60},
        }
    ]
    await insert_events(rows + events + [behaviour])
    # Every request of those hours, as the store counts them: by status class, with bytes.
    minutes = {
        OLD - timedelta(hours=hour): Counter(
            requests=1000,
            status_2xx=900,
            status_3xx=40,
            status_4xx=50,
            status_5xx=10,
            bytes_sent=2_000_000,
        )
        for hour in range(72)
    }
    async with get_db_context() as session:
        visitors = {
            OLD - timedelta(hours=hour): {f"192.0.2.{n}" for n in range(hour % 40 + 10)}
            for hour in range(72)
        }
        await add_traffic(session, "shop", minutes, visitors)
    async with get_db_context() as session:
        session.add(
            Decision(
                site="shop",
                value="198.51.100.23",
                scope="ip",
                reason="policy: HIGH event",
                origin="vigil",
                incident_id=incident,
                created_at=OLD,
                expires_at=OLD + timedelta(hours=4),
            )
        )
    return {"incident": incident, "events": len(rows) + len(events) + 1, "requests": 72_000}


def _count(text: str) -> int:
    return int(text.replace(",", ""))


async def test_every_action_through_the_page(sqlite_db: str) -> None:
    now = datetime.now(UTC)
    incident = await insert_incident(site="shop", client_ip="192.0.2.200", last_seen=now)
    threat = event_row(
        site="shop",
        client_ip="192.0.2.200",
        observed_at=now - timedelta(minutes=5),
        path="/search",
        query="q=1%27+OR+1%3D1--",
        incident_id=incident,
    )
    threat["matched_rules"][0]["target"] = "args:q"
    [event_id] = await insert_events([threat])
    decision = await insert_decision(site="shop", value="203.0.113.7")
    async with get_db_context() as session:
        session.add(ModelMetadata(model_type="classifier", version="c-old", is_active=False))
        session.add(ModelMetadata(model_type="classifier", version="c-new", is_active=True))
    key = await make_key("admin")

    async with console(sqlite_db, key) as c:
        page = c.page
        await page.wait_for_function("document.getElementById('who').textContent.includes('admin')")
        await page.wait_for_selector("#top_ips td.mono")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-overview-desktop.png"))

        # Blocklist: block a range, unblock an address.
        await page.click("[role=tab][data-view=blocklist]")
        await page.wait_for_selector(f'#blocklist tr[data-id="{decision}"]')
        await page.fill("#block-form [name=value]", "198.51.100.0/24")
        await page.fill("#block-form [name=reason]", "scanner range")
        await page.fill("#site", "shop")
        await page.click("#block-form button[type=submit]")
        await c.confirm()
        await page.wait_for_selector("#blocklist td:text-is('198.51.100.0/24')")
        await page.click(f'#blocklist tr[data-id="{decision}"] button')
        await c.confirm()
        await page.wait_for_selector(f'#blocklist tr[data-id="{decision}"]', state="detached")
        blocked = (await c.api("GET", "/blocklist")).json()["items"]
        assert [(d["value"], d["reason"], d["site"]) for d in blocked] == [
            ("198.51.100.0/24", "scanner range", "shop")
        ]

        # A threat's detail: exclude its rule on this argument, allowlist its client.
        await page.click("[role=tab][data-view=threats]")
        await page.click(f'#threats tr[data-id="{event_id}"]')
        await page.wait_for_selector("#detail:not([hidden])")
        await page.click("#detail-rules button:has-text('Exclude on this argument')")
        await c.confirm()
        await page.wait_for_selector("#detail-status:has-text('excluded')")
        [exclusion] = (await c.api("GET", "/exclusions")).json()
        assert (exclusion["rule_id"], exclusion["path_prefix"], exclusion["argument"]) == (
            "942100",
            "/search",
            "q",
        )
        assert exclusion["site"] == "shop" and exclusion["created_by"] == "test-admin"
        await page.click("#detail-actions button:has-text('Allowlist')")
        await c.confirm()
        await page.wait_for_selector("#detail-status:has-text('allowlisted')")
        [entry] = (await c.api("GET", "/allowlist")).json()
        assert (entry["kind"], entry["value"], entry["site"]) == ("ip", "192.0.2.200", "shop")
        await page.keyboard.press("Escape")
        await page.wait_for_selector("#detail", state="hidden")

        # Allowlist and exclusions: remove both, add an exclusion by hand.
        await page.click("[role=tab][data-view=controls]")
        await page.click(f'#allowlist tr[data-id="{entry["id"]}"] button')
        await c.confirm()
        await page.wait_for_selector(f'#allowlist tr[data-id="{entry["id"]}"]', state="detached")
        assert (await c.api("GET", "/allowlist")).json() == []
        await page.click(f'#exclusions tr[data-id="{exclusion["id"]}"] button')
        await c.confirm()
        await page.wait_for_selector(
            f'#exclusions tr[data-id="{exclusion["id"]}"]', state="detached"
        )
        await page.fill("#exclusion-form [name=rule_id]", "941100")
        await page.fill("#exclusion-form [name=path_prefix]", "/cms/editor")
        await page.click("#exclusion-form button[type=submit]")
        await c.confirm()
        await page.wait_for_selector("#exclusions td:text-is('941100')")
        assert [x["rule_id"] for x in (await c.api("GET", "/exclusions")).json()] == ["941100"]

        # Incident: drill down and mark it reviewed.
        await page.fill("#site", "")
        await page.click("[role=tab][data-view=incidents]")
        await page.click(f'#incidents tr[data-id="{incident}"]')
        await page.wait_for_selector(f'#incident_events tr[data-id="{event_id}"]')
        await page.click("#incident-actions button:has-text('Mark reviewed')")
        await c.confirm()
        await page.wait_for_selector("#incident-fields dd:text-is('reviewed')")
        assert (await c.api("GET", f"/incidents/{incident}")).json()["status"] == "reviewed"
        await page.click("#incident-close")

        # Keys: create one (shown once), then revoke it.
        await page.click("[role=tab][data-view=keys]")
        await page.fill("#newkey-form [name=name]", "siem-reader")
        await page.fill("#newkey-form [name=sites]", "shop")
        await page.click("#newkey-form button[type=submit]")
        await c.confirm()
        secret = await page.inner_text("#newkey-value")
        me = (await c.api("GET", "/keys/me", key=secret)).json()
        assert me["name"] == "siem-reader" and me["scope"] == "read" and me["sites"] == ["shop"]
        await page.click(f'#keys tr[data-id="{me["id"]}"] button:has-text("Revoke")')
        await c.confirm()
        await page.wait_for_selector(f'#keys tr[data-id="{me["id"]}"] button', state="detached")
        gone = await c.api("GET", "/keys/me", key=secret)
        assert gone.status_code == 401

        # Models: activate the older version, then roll back from the newer one.
        await page.click("[role=tab][data-view=models]")
        await page.click('#models tr[data-version="c-old"] button:has-text("Activate")')
        await c.confirm()
        await page.wait_for_selector('#models tr[data-version="c-new"] button')
        active = [m["version"] for m in (await c.api("GET", "/models/status")).json()["models"]]
        assert active[0] == "c-old"
        # No pipeline runs in this app: the page says when the model will be used.
        assert "loaded when vigil next starts" in await page.inner_text("#models-error")
        await page.click('#models tr[data-version="c-new"] button:has-text("Activate")')
        await c.confirm()
        await page.wait_for_selector('#models tr[data-version="c-old"] button')
        await page.click("#rollback-classifier")
        await c.confirm()
        await page.wait_for_selector('#models tr[data-version="c-new"] button')
        models = (await c.api("GET", "/models/status")).json()["models"]
        assert [m["version"] for m in models if m["is_active"]] == ["c-old"]

        # The audit trail, on the page and through the API: who did what.
        await page.click("[role=tab][data-view=audit]")
        await page.wait_for_selector("#audit td:text-is('model.rollback')")
        trail = (await c.api("GET", "/audit", params={"limit": 100})).json()["items"]
        assert [e["action"] for e in reversed(trail)] == [
            "decision.create",
            "decision.delete",
            "exclusion.add",
            "allowlist.add",
            "allowlist.delete",
            "exclusion.delete",
            "exclusion.add",
            "incident.review",
            "key.create",
            "key.revoke",
            "model.activate",
            "model.activate",
            "model.rollback",
        ]
        assert {e["key_name"] for e in trail} == {"test-admin"}
        rows = await page.locator("#audit tbody tr").count()
        assert rows == len(trail)
    assert c.errors == []


async def test_a_read_key_sees_no_action_and_is_refused_by_the_api(sqlite_db: str) -> None:
    now = datetime.now(UTC)
    incident = await insert_incident(site="shop", client_ip="192.0.2.200", last_seen=now)
    [event_id] = await insert_events(
        [event_row(site="shop", observed_at=now - timedelta(minutes=3), incident_id=incident)]
    )
    await insert_decision(site="shop", value="203.0.113.7")
    key = await make_key("read", ["shop"])
    async with console(sqlite_db, key) as c:
        page = c.page
        await page.wait_for_function("document.getElementById('who').textContent.includes('read')")
        await page.wait_for_selector("#live-status.on")
        waiting = await page.locator("#alerts li.waiting").bounding_box()
        assert waiting is not None and waiting["height"] < 40, "the waiting line wraps"
        assert not await page.is_visible("[role=tab][data-view=keys]")
        assert not await page.is_visible("[role=tab][data-view=audit]")
        await page.click("[role=tab][data-view=blocklist]")
        await page.wait_for_selector("#blocklist tbody tr[data-id]")
        assert not await page.is_visible("#block-form")
        assert await page.locator("#blocklist button").count() == 0
        await page.click("[role=tab][data-view=threats]")
        await page.click(f'#threats tr[data-id="{event_id}"]')
        await page.wait_for_selector("#detail:not([hidden])")
        assert await page.locator("#detail-rules button").count() == 0
        assert await page.locator("#detail-actions button:has-text('Block')").count() == 0
        assert not await page.is_visible("#detail .review-buttons")
        await page.keyboard.press("Escape")
        await page.click("[role=tab][data-view=incidents]")
        await page.click(f'#incidents tr[data-id="{incident}"]')
        await page.wait_for_selector("#incident:not([hidden])")
        assert await page.locator("#incident-actions button").count() == 0
        await page.click("#incident-close")
        await page.click("[role=tab][data-view=models]")
        assert not await page.is_visible("#rollback-classifier")

        # A site the key may not see: the rows go, the error says why, the socket is not retried.
        await page.click("[role=tab][data-view=threats]")
        await page.wait_for_selector("#threats tbody tr[data-id]")
        await page.fill("#site", "other")
        await page.press("#site", "Enter")
        await page.wait_for_selector("#filter-error:has-text('may not see site')")
        assert await page.locator("#threats tbody tr[data-id]").count() == 0
        await page.wait_for_selector("#live-text:text-is('no access to other')")
        await page.wait_for_timeout(1500)
        assert await page.inner_text("#live-text") == "no access to other"
        assert [e for e in c.errors if "403" not in e] == []
        await page.fill("#site", "")
        await page.press("#site", "Enter")
        await page.wait_for_selector("#live-status.on")
        c.errors.clear()
        # Forced from the page anyway, the API refuses with a message that says why.
        forced = await page.evaluate(
            """async (key) => {
                const r = await fetch('/decisions', {method: 'POST', headers: {'X-API-Key': key,
                  'Content-Type': 'application/json'}, body: JSON.stringify({value: '192.0.2.1'})});
                return [r.status, (await r.json()).detail];
            }""",
            key,
        )
        assert forced == [403, "this needs a key with scope 'admin'; this key has 'read'"]
    assert [e for e in c.errors if "403" not in e] == []


async def test_last_years_data_ranges_zoom_drill_down_and_export(sqlite_db: str) -> None:
    seeded = await _seed_old_data()
    key = await make_key("admin")
    async with console(sqlite_db, key) as c:
        page = c.page
        # The last 24 hours are empty: the page shows the 24 hours up to the latest data.
        await page.wait_for_selector("#banner:not([hidden])")
        assert "showing the data up to" in await page.inner_text("#banner")
        await page.wait_for_function("document.getElementById('count-high').textContent !== '–'")
        shown = c.last("/stats")
        assert shown["to"].startswith(f"{OLD.year}-03-14T13:00")
        api_stats = (await c.api("GET", "/stats", params=shown)).json()
        assert _count(await page.inner_text("#count-high")) == api_stats["totals"]["HIGH"] > 0

        # A custom absolute range: three days around the data, checked against what was seeded.
        await page.select_option("#range", "custom")
        await page.fill("#range-from", f"{OLD.year}-03-11T00:00")
        await page.fill("#range-to", f"{OLD.year}-03-15T00:00")
        await page.click("#range-apply")
        await page.wait_for_function(
            "(() => { const w = document.getElementById('window').textContent;"
            " return w.includes('11/03') && w.includes('15/03'); })()"
        )
        stats_query = c.last("/stats")
        assert f"#from={OLD.year}-03-11T00" in page.url
        assert stats_query["from"] == f"{OLD.year}-03-11T00:00:00.000Z"
        assert stats_query["to"] == f"{OLD.year}-03-15T00:00:00.000Z"
        high = _count(await page.inner_text("#count-high"))
        medium = _count(await page.inner_text("#count-medium"))
        assert high + medium == seeded["events"]
        assert _count(await page.inner_text("#count-requests")) == seeded["requests"]
        assert await page.inner_text("#count-bytes") == "137.3 MB"
        assert 48 <= _count(await page.inner_text("#count-visitors")) <= 52
        statuses = await page.inner_text("#statuses")
        assert "2xx\t64,800" in statuses and "5xx\t720" in statuses

        # Brushing the chart zooms to the buckets dragged across.
        buckets = int(await page.get_attribute("#chart", "data-buckets") or 0)
        assert buckets >= 8
        box = await page.locator("#chart svg").bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        await page.mouse.move(box["x"] + box["width"] * 0.45, y)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=5)
        await page.mouse.up()
        await page.wait_for_selector("#zoom-out:not([hidden])")
        await page.wait_for_function(
            f"document.getElementById('range-from').value !== '{OLD.year}-03-11T00:00'"
        )
        await page.wait_for_timeout(200)
        zoomed = c.last("/stats")
        start = datetime.fromisoformat(zoomed["from"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(zoomed["to"].replace("Z", "+00:00"))
        assert (
            datetime(OLD.year, 3, 11, tzinfo=UTC)
            < start
            < end
            < datetime(OLD.year, 3, 15, tzinfo=UTC)
        )
        zoomed_api = (await c.api("GET", "/stats", params=zoomed)).json()
        await page.wait_for_function(
            "document.getElementById('count-high').textContent.replace(/,/g, '') === "
            f"'{zoomed_api['totals']['HIGH']}'"
        )
        assert zoomed_api["totals"]["HIGH"] < high
        await page.click("#zoom-out")
        await page.wait_for_function(
            f"document.getElementById('range-from').value === '{OLD.year}-03-11T00:00'"
        )

        # Export: the top attackers as JSON match /stats; the threat table as CSV matches /threats.
        await page.wait_for_function(
            f"document.getElementById('count-high').textContent.replace(/,/g, '') === '{high}'"
        )
        await page.wait_for_selector("#top_ips td.mono")
        async with page.expect_download() as info:
            await page.click("[data-table=top_ips] [data-export=json]")
        exported = json.loads((await (await info.value).path()).read_text())
        full = (await c.api("GET", "/stats", params=c.last("/stats"))).json()
        assert exported == full["top_ips"] and len(exported) == 10

        await page.click("[role=tab][data-view=threats]")
        await page.wait_for_selector("#threats tbody tr[data-id]")
        while await page.is_visible("#more"):
            count = await page.locator("#threats tbody tr").count()
            await page.click("#more")
            await page.wait_for_function(
                f"document.querySelectorAll('#threats tbody tr').length > {count}"
            )
        async with page.expect_download() as info:
            await page.click("[data-table=threats] [data-export=csv]")
        download = await info.value
        assert download.suggested_filename == "vigil-threats.csv"
        rows = list(csv.DictReader(io.StringIO((await download.path()).read_text())))
        query = {k: v for k, v in c.last("/threats").items() if k != "cursor"}
        query["limit"] = "500"
        listed = (await c.api("GET", "/threats", params=query)).json()["items"]
        assert [int(r["id"]) for r in rows] == [t["id"] for t in listed]
        assert len(rows) == seeded["events"]
        assert [r["query"] for r in rows[:3]] == [t["query"] for t in listed[:3]]

        # Incident drill-down: its events, the behaviour evidence and the decision.
        await page.click("[role=tab][data-view=incidents]")
        await page.click(f'#incidents tr[data-id="{seeded["incident"]}"]')
        await page.wait_for_selector("#incident_events tbody tr[data-id]")
        assert await page.locator("#incident_events tbody tr").count() == 8
        evidence = await page.inner_text("#incident-evidence")
        assert "bruteforce" in evidence and '"failed_logins":41' in evidence
        assert "198.51.100.23" in await page.inner_text("#incident-decisions")
        assert "policy: HIGH event" in await page.inner_text("#incident-decisions")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-incident-desktop.png"))
        await page.click("#incident-close")
        await page.click("[role=tab][data-view=overview]")
        await page.wait_for_selector("#top_ips td.mono")
        await page.screenshot(path=str(ARTIFACTS / "console-last-year-desktop.png"))
    assert c.errors == []

    async with console(sqlite_db, key, width=390, height=844) as phone:
        await phone.page.wait_for_selector("#banner:not([hidden])")
        await phone.page.wait_for_selector("#top_ips td.mono")
        await phone.page.screenshot(path=str(ARTIFACTS / "console-overview-phone.png"))
        width = await phone.page.evaluate("document.documentElement.scrollWidth")
        wide = await phone.page.evaluate(
            """[...document.querySelectorAll('body *')]
                .filter((e) => e.getBoundingClientRect().right > 391)
                .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)"""
        )
        assert width <= 390, f"the page is {width} px wide on a 390 px phone: {wide}"
    assert phone.errors == []
