"""The dashboard in headless Chromium: a live alert appears, and reviewing it reaches the DB."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from playwright.async_api import async_playwright
from sqlalchemy import select

from tests.api.factories import event_row, insert_decision, insert_events, insert_incident, make_key
from tests.api.server import serving
from tests.browser.support import ARTIFACTS, CHROMIUM_ARGS, chromium
from tests.conftest import make_settings
from vigil.api.app import create_app
from vigil.api.schemas import ThreatOut
from vigil.db.models import ThreatEvent
from vigil.db.session import get_db_context
from vigil.sinks.broker import MemoryBroker


async def _seed_history() -> None:
    rng = random.Random(5)
    now = datetime.now(UTC)
    attackers = ["203.0.113.7", "198.51.100.23", "192.0.2.200", "2001:db8::bad"]
    rows = []
    for ip in attackers:
        incident = await insert_incident(site="shop", client_ip=ip, last_seen=now)
        for _ in range(rng.randint(3, 12)):
            high = rng.random() < 0.5
            rows.append(
                event_row(
                    site="shop",
                    client_ip=ip,
                    observed_at=now - timedelta(minutes=rng.randint(1, 23 * 60)),
                    severity="HIGH" if high else "MEDIUM",
                    score=0.8 if high else 0.55,
                    path=rng.choice(["/login", "/wp-login.php", "/search", "/api/v1/users"]),
                    categories=[rng.choice(["sqli", "xss", "traversal", "scanner"])],
                    rules=[rng.choice(["942100", "941100", "930100", "913100"])],
                    incident_id=incident,
                )
            )
    await insert_events(rows)
    await insert_decision(site="shop", value="203.0.113.7")


async def test_live_alert_and_review(sqlite_db: str) -> None:
    executable = chromium()
    await _seed_history()
    key = await make_key("write")
    [event_id] = await insert_events(
        [
            event_row(
                site="shop",
                client_ip="203.0.113.99",
                path="/products",
                query="id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
                observed_at=datetime.now(UTC),
            )
        ]
    )
    async with get_db_context() as session:
        stored = (
            await session.scalars(select(ThreatEvent).where(ThreatEvent.id == event_id))
        ).one()
        message = ThreatOut.model_validate(stored).model_dump(mode="json")

    broker = MemoryBroker()
    app = create_app(make_settings(sqlite_db), broker=broker)
    errors: list[str] = []
    async with serving(app) as host, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1100})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            await page.goto(f"http://{host}/")
            await page.fill("#key-input", key)
            await page.click("#key-form button[type=submit]")
            await page.wait_for_selector("#live-status.on", timeout=10_000)
            await page.click("[role=tab][data-view=threats]")
            await page.wait_for_selector("#threats tbody tr[data-id]", timeout=10_000)
            await page.click("[role=tab][data-view=overview]")
            await page.wait_for_function(
                "document.getElementById('count-high').textContent !== '–'"
            )
            high_before = int((await page.inner_text("#count-high")).replace(",", ""))
            stats_calls: list[str] = []
            page.on("request", lambda r: stats_calls.append(r.url) if "/stats" in r.url else None)

            # What the pipeline does after storing the event: publish its JSON.
            await broker.publish(message)
            alert = page.locator(f'#alerts li.alert[data-id="{event_id}"]')
            await alert.wait_for(timeout=10_000)
            assert "203.0.113.99" in await alert.inner_text()
            # The alert patches the counter in place; no panel is fetched again for it.
            await page.wait_for_function(
                f"document.getElementById('count-high').textContent.replace(/,/g, '') === "
                f"'{high_before + 1}'"
            )
            await page.wait_for_timeout(300)
            assert stats_calls == []
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)

            await alert.click()
            await page.wait_for_selector("#detail:not([hidden])")
            await page.fill("#review-note", "confirmed injection")
            await page.click("#detail .review-buttons .tp")
            await page.wait_for_function(
                "document.getElementById('review-status').textContent.includes('Marked')"
            )
            assert "true_positive" in await page.inner_text("#detail-fields")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-review.png"), full_page=True)
        finally:
            await browser.close()

    async with get_db_context() as session:
        row = (await session.scalars(select(ThreatEvent).where(ThreatEvent.id == event_id))).one()
    assert row.reviewed is True
    assert row.label == "true_positive"
    assert row.review_note == "confirmed injection"
    assert errors == []
