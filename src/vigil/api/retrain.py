"""Retraining jobs started from the API: one at a time, the last one kept for /models/status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

log = logging.getLogger(__name__)

RetrainRunner = Callable[[], Awaitable[None]]
JobStatus = Literal["running", "succeeded", "failed", "cancelled"]


class RetrainBusyError(RuntimeError):
    """A retraining job is already running."""


@dataclass(slots=True)
class RetrainJob:
    id: str
    status: JobStatus
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class RetrainJobs:
    """Runs the injected training coroutine as a background task and remembers the last job."""

    def __init__(self, runner: RetrainRunner | None) -> None:
        self.runner = runner
        self.last: RetrainJob | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.runner is not None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> RetrainJob:
        """Start a job; raises RetrainBusyError while one runs."""
        if self.runner is None:
            raise RuntimeError("no training runner configured")
        if self.running:
            raise RetrainBusyError("a retraining job is already running")
        job = RetrainJob(uuid.uuid4().hex, "running", datetime.now(UTC))
        self.last = job
        self._task = asyncio.create_task(self._run(job, self.runner), name=f"retrain-{job.id}")
        return job

    async def _run(self, job: RetrainJob, runner: RetrainRunner) -> None:
        try:
            await runner()
        except asyncio.CancelledError:
            job.status = "cancelled"
            raise
        except Exception as exc:
            job.status = "failed"
            job.error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("event=retrain_failed job=%s", job.id)
        else:
            job.status = "succeeded"
        finally:
            job.finished_at = datetime.now(UTC)

    async def stop(self) -> None:
        """Cancel a running job (at shutdown)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
