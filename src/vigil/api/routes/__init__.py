"""The API's route modules; `app.py` includes each router."""

from typing import Any

from vigil.api.schemas import ErrorOut

__all__ = ["KEYED", "NOT_FOUND"]

KEYED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid API key"},
    403: {"model": ErrorOut, "description": "the key's scope or sites do not allow this"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such item visible to this key"}
}
