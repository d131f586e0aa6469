"""Every dependency of the routes, named as types: the session, the app state and the caller.

`CurrentKey` is the authenticated caller; `ReadKey`, `WriteKey` and `AdminKey` add the scope
check (admin ⊇ write ⊇ read). Routes pass `key.visibility` to the services, which put it into
their SQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Security, status
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from vigil import metrics
from vigil.api.state import AppState, app_state
from vigil.db.session import SessionDep, get_db
from vigil.services.keys import Principal, Scope, authenticate

__all__ = [
    "AdminKey",
    "AppStateDep",
    "CurrentKey",
    "GlobalAdminKey",
    "OptionalKey",
    "PresentedKey",
    "ReadKey",
    "SessionDep",
    "WriteKey",
    "get_db",
]

API_KEY_HEADER = "X-API-Key"
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key from `vigil keys create`.",
)


def get_app_state(connection: HTTPConnection) -> AppState:
    return app_state(connection.app)


AppStateDep = Annotated[AppState, Depends(get_app_state)]


def unauthorized() -> HTTPException:
    metrics.AUTH_FAILURES.inc()
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=f"missing or invalid API key: send a valid key in the {API_KEY_HEADER} header",
        headers={"WWW-Authenticate": "ApiKey"},
    )


async def get_presented_key(
    session: SessionDep,
    state: AppStateDep,
    presented: Annotated[str | None, Security(api_key_header)],
) -> Principal | None:
    """The caller the `X-API-Key` header stands for; None when it is missing or not valid."""
    return await authenticate(session, presented, admin_key=state.admin_key)


PresentedKey = Annotated[Principal | None, Depends(get_presented_key)]


async def get_current_key(principal: PresentedKey) -> Principal:
    if principal is None:
        raise unauthorized()
    return principal


CurrentKey = Annotated[Principal, Depends(get_current_key)]


async def get_optional_key(
    principal: PresentedKey, presented: Annotated[str | None, Security(api_key_header)]
) -> Principal | None:
    """The caller when a key is sent (401 if it is wrong), None when none is."""
    if presented is not None and principal is None:
        raise unauthorized()
    return principal


OptionalKey = Annotated[Principal | None, Depends(get_optional_key)]


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that refuses callers whose key lacks `scope` with 403."""

    async def check(key: CurrentKey) -> Principal:
        if not key.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs a key with scope '{scope}'; this key has '{key.scope}'",
            )
        return key

    return check


ReadKey = Annotated[Principal, Depends(require_scope("read"))]
WriteKey = Annotated[Principal, Depends(require_scope("write"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]


async def require_global_admin(key: AdminKey) -> Principal:
    """An admin key that sees every site: what keys and models (shared by all sites) need."""
    # A key limited to some sites must not mint keys, or it could widen its own reach.
    if key.visibility.restricted:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="this needs an admin key for every site; this key is limited to some sites",
        )
    return key


GlobalAdminKey = Annotated[Principal, Depends(require_global_admin)]


async def metrics_access(
    session: SessionDep,
    state: AppStateDep,
    presented: Annotated[str | None, Security(api_key_header)],
) -> None:
    """Lets anyone read /metrics when `metrics_public`, otherwise any valid key."""
    if state.settings.metrics_public:
        return
    if await authenticate(session, presented, admin_key=state.admin_key) is None:
        raise unauthorized()


def visible_site(key: Principal, site: str | None) -> str | None:
    """`site` if the key may see it; 403 otherwise (a filter never widens what a key sees)."""
    if site is not None and not key.visibility.allows(site):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this key may not see site {site!r}")
    return site


def writable_site(key: Principal, site: str | None, *, default: str | None) -> str | None:
    """The site a write applies to: the one named, the key's only site, or `default`.

    None (every site) is allowed only to keys that see every site.
    """
    sites = key.visibility.sites
    if site is None and sites is not None:
        if len(sites) != 1:
            raise HTTPException(
                422,
                detail="this key is limited to several sites: name the site",
            )
        site = next(iter(sites))
    if site is None:
        return default
    return visible_site(key, site)
