"""Finding 6: two vigils on one Redis with different prefixes never see each other's alerts
(pub/sub ignores database numbers, so the prefix is what keeps them apart). Real Redis."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr
from websockets.asyncio.client import connect

from tests.api.server import serving
from tests.api.test_ws import alert, nothing_more, publish_until_seen, receive_json
from tests.conftest import REDIS_TEST_URL
from vigil.api.app import create_app
from vigil.api.state import app_state
from vigil.config import Settings

ADMIN = "prefix-admin-key-0123456789abcdef"

pytestmark = pytest.mark.redis


def _redis_url(db_number: int) -> str:
    if not REDIS_TEST_URL:
        pytest.fail("VIGIL_TEST_REDIS_URL is not set; run the suite through `make test`")
    return REDIS_TEST_URL.rsplit("/", 1)[0] + f"/{db_number}"


async def test_two_deployments_on_one_redis_keep_their_alerts_apart(db: Settings) -> None:
    run = uuid.uuid4().hex[:8]
    common = {"api_admin_key": SecretStr(ADMIN)}
    first = create_app(
        db.model_copy(update={**common, "redis_url": _redis_url(0), "redis_prefix": f"t{run}-one"})
    )
    second = create_app(
        db.model_copy(update={**common, "redis_url": _redis_url(1), "redis_prefix": f"t{run}-two"})
    )
    headers = {"X-API-Key": ADMIN}
    async with (
        serving(first) as host_one,
        serving(second) as host_two,
        connect(f"ws://{host_one}/ws/alerts", additional_headers=headers) as ws_one,
        connect(f"ws://{host_two}/ws/alerts", additional_headers=headers) as ws_two,
    ):
        await receive_json(ws_one)
        await receive_json(ws_two)
        broker_one = app_state(first).broker
        broker_two = app_state(second).broker
        await publish_until_seen(broker_one, ws_one, alert(1))
        await publish_until_seen(broker_two, ws_two, alert(2))
        # Both subscriptions are live now: each deployment's alert reaches only its own.
        await broker_one.publish(alert(3))
        assert (await receive_json(ws_one))["id"] == 3
        assert await nothing_more(ws_two, 0.5)
        await broker_two.publish(alert(4))
        assert (await receive_json(ws_two))["id"] == 4
        assert await nothing_more(ws_one, 0.5)


def test_the_prefix_is_checked() -> None:
    from vigil.config import load_settings
    from vigil.errors import ConfigError

    assert load_settings().redis_prefix == "vigil"
    with pytest.raises(ConfigError, match="VIGIL_REDIS_PREFIX"):
        load_settings(redis_prefix="bad prefix with spaces")
