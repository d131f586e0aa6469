"""Path and user-agent classification: which requests are probes, logins, monitors, assets."""

from __future__ import annotations

import pytest

from vigil.detect.behaviour import BehaviourConfig
from vigil.detect.behaviour.classify import (
    API,
    BOT,
    BROWSER,
    IS_ASSET,
    IS_HEALTH,
    IS_SENSITIVE,
    AgentClassifier,
    PathClassifier,
    unpack,
)

PATHS = PathClassifier(BehaviourConfig())
AGENTS = AgentClassifier(BehaviourConfig())

SENSITIVE = [
    "/.env",
    "/.env.production",
    "/app/.env",
    "/.git/config",
    "/.git/HEAD",
    "/.svn/entries",
    "/.DS_Store",
    "/.htpasswd",
    "/.aws/credentials",
    "/.ssh/id_rsa",
    "/wp-config.php.bak",
    "/wp-config.php~",
    "/backup.zip",
    "/db.sql",
    "/site.tar.gz",
    "/index.php.old",
    "/phpmyadmin/",
    "/PMA/index.php",
    "/adminer.php",
    "/manager/html",
    "/server-status",
    "/actuator/env",
    "/phpinfo.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/debug/pprof/heap",
    "/web.config",
]

ORDINARY = [
    "/",
    "/blog/post-12",
    "/products/wireless-earbuds-6138",
    "/static/css/site.css",
    "/environment",
    "/github",
    "/admin/orders/12",
    "/wp-admin/admin-ajax.php",
    "/backups-explained",
    "/server-side-rendering",
    "/api/v1/items",
    "/.well-known/security.txt",
]


@pytest.mark.parametrize("path", SENSITIVE)
def test_sensitive_paths_are_probes(path: str) -> None:
    assert unpack(PATHS.classify(path))[1] & IS_SENSITIVE


@pytest.mark.parametrize("path", ORDINARY)
def test_ordinary_paths_are_not_probes(path: str) -> None:
    assert not unpack(PATHS.classify(path))[1] & IS_SENSITIVE


def test_login_health_and_asset_paths() -> None:
    endpoints = [e.path for e in BehaviourConfig().bruteforce.endpoints]
    assert unpack(PATHS.classify("/wp-login.php"))[2] == endpoints.index("/wp-login.php")
    assert unpack(PATHS.classify("/Login/"))[2] == endpoints.index("/login")
    assert unpack(PATHS.classify("/login-help"))[2] == -1
    assert unpack(PATHS.classify("/healthz"))[1] & IS_HEALTH
    assert unpack(PATHS.classify("/static/app.js"))[1] & IS_ASSET
    bit, _, _ = unpack(PATHS.classify("/x"))
    assert bit.bit_count() == 1


@pytest.mark.parametrize(
    ("agent", "cls", "good"),
    [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36", BROWSER, False),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", BOT, True),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", BOT, True),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0)", BOT, False),
        ("gobuster/3.6", BOT, False),
        ("curl/8.5.0", API, False),
        ("python-requests/2.31.0", API, False),
        ("node-fetch/1.0", API, False),
        ("", API, False),
    ],
)
def test_user_agent_classes(agent: str, cls: int, good: bool) -> None:
    _, got_cls, got_good = AGENTS.classify(agent)
    assert (got_cls, got_good) == (cls, good)


_ODD = [
    "/.ENV",
    "/x/.Git/",
    "/.env\n",
    "/a\n/.env",
    "/.envé",
    "/é/.git/config",
    "/ſerver-status",
    "/backup.zip\nx",
    "",
    "/DB.SQL",
]


def test_classifying_a_batch_equals_classifying_each_path() -> None:
    # The batch path goes through Hyperscan where it can; it must agree with `re` everywhere.
    paths = [*SENSITIVE, *ORDINARY, *_ODD, *(p.upper() for p in SENSITIVE), *SENSITIVE]
    batch = PathClassifier(BehaviourConfig())
    batch.classify_many(paths)
    single = PathClassifier(BehaviourConfig())
    for path in paths:
        assert batch._cache[path] == single._compute(path), path
    assert sum(bool(unpack(batch._cache[p])[1] & IS_SENSITIVE) for p in paths) >= 2 * len(SENSITIVE)


def test_custom_patterns_hyperscan_cannot_compile_still_classify() -> None:
    config = BehaviourConfig.model_validate({"probe": {"patterns": [r"/(a+)\1$", r"/secret"]}})
    classifier = PathClassifier(config)
    assert classifier._hs_db is None
    classifier.classify_many(["/aaaa", "/aaa", "/x/secret", "/y"])
    flags = {p: bool(unpack(classifier._cache[p])[1] & IS_SENSITIVE) for p in classifier._cache}
    assert flags == {"/aaaa": True, "/aaa": False, "/x/secret": True, "/y": False}
