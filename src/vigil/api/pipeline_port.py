"""What the HTTP API needs from a running pipeline; the pipeline itself lives elsewhere."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PipelineHandle(Protocol):
    """The pipeline as the API sees it: non-blocking intake, counters, live exclusions.

    `start()` and `stop()` are awaited by the app lifespan when the object has them.
    """

    def try_submit(self, source: str, lines: list[bytes], site: str) -> bool:
        """Queue lines if there is room now; False means the caller should retry later."""
        ...

    def stats(self) -> dict[str, Any]:
        """Per-stage counters, shown by /health."""
        ...

    def set_exclusions(
        self, site: str | None, exclusions: list[dict[str, Any]], allowlist: list[dict[str, Any]]
    ) -> None:
        """Replace the exclusions and allowlist of `site` (None: every site) while running."""
        ...
