"""A stage of the pipeline run in a second process, so that a machine's second core works too.

Parallelism is a property of the one pipeline, chosen when `open_pipeline` builds it
(`VIGIL_HELPER_PROCESS`, or a large input on two or more cores), not a second implementation:
the helper runs the same stage objects (`ParseStage`, `BehaviourStage` and, when asked,
`RulesStage` of `vigil.pipeline.stages`) over the same batch type (`Work`) as the main
process's `Analyzer`, and hands back what they found (`RemoteResult`); the main process's
stages take it from the batch instead of doing that share themselves.

Behaviour windows are the one stage whose state spans batches, and they do not read the rules'
verdicts, so they live in the helper whole. Each raw batch goes to the helper as soon as it is
read. The main process parses it meanwhile, detects it (unless the helper was asked to),
scores it, and collects the helper's behaviour events (and verdicts) when it gets there. The
helper is asked to detect a batch only while it is keeping up, so the work balances itself
between the two processes; the verdicts are the same wherever a batch is detected.

Both processes parse the same lines with the same parser, so record i is the same request on
both sides (the record counts are compared). Raw lines cross the process boundary rather than
parsed records because parsing a line again costs less than pickling and unpickling its record.

Order matters: the helper sees batches in the order they are submitted, and they are collected
in that order. Control updates travel in the same stream, between the batches, to the same
stages as in the main process: new exclusions and allowlists (`set_exclusions`) reach the
helper's rules and behaviour stages before every batch submitted after them, a snapshot of the
behaviour windows (`snapshot`) covers exactly the batches submitted before it, and a restored
snapshot (`restore`) is in place before the first batch. Model swaps and site profiles need no
update here: those stages run only in the main process. If the helper dies or disagrees, the
main process carries on alone with its own behaviour windows (see `Analyzer`), so no line goes
unanalysed.
"""

from __future__ import annotations

import logging
import marshal
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from vigil.batch import LineBatch
from vigil.config import RunnerSection, Settings
from vigil.detect.exclusions import ExclusionSet
from vigil.detect.result import encode_detections
from vigil.pipeline.stages import BehaviourStage, ParseStage, RulesStage, Stages
from vigil.pipeline.work import RemoteResult, Work
from vigil.runtime import tune_gc

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LARGE_INPUT_BYTES = 16 << 20
"""Files at least this large are worth the helper's start-up."""
PIPE_BYTES = 4 << 20
"""Pipe capacity asked for (the system may cap it at 1 MiB): a batch of long lines is ~1 MiB."""
DETECT_WHILE_BACKLOG_BELOW = 2
"""The helper is asked to detect a batch only while fewer of its batches are unfinished."""
_BATCH = b"B"
_CONTROL = b"C"


HelperResult = RemoteResult
"""What the helper made of one batch (see `RemoteResult`)."""


@dataclass(frozen=True, slots=True)
class Prefetched:
    """A batch handed to the helper: its place in the stream, and whether the helper detects it."""

    seq: int
    detects: bool


class HelperLost(RuntimeError):
    """The helper is gone or failed; the caller carries on without it."""


def wanted(section: RunnerSection, input_bytes: int | None) -> bool:
    """Whether a scan of `input_bytes` (None: unknown, e.g. stdin) should use a helper.

    By default only for large files: on a stream of unknown length, a short input would wait
    for the helper's start-up (set `VIGIL_HELPER_PROCESS=true` for a large pipe).
    """
    if section.helper_process is not None:
        return section.helper_process
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2 and input_bytes is not None and input_bytes >= LARGE_INPUT_BYTES


class HelperProcess:
    """The helper: a child process with `Stages` of its own (parser, behaviour windows,
    detection engine), of which it uses the parts named in the module docstring.

    Batches and results travel over two plain pipes. One small thread writes the batches (a
    write waits while the pipe is full); the calling thread reads the results itself. A process
    pool was tried first: its manager and feeder threads had to win the interpreter lock from
    the busy main thread before the helper got its next batch.
    """

    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the parent may hold threads (progress display, model runtimes).
        context = multiprocessing.get_context("spawn")
        task_reader, self._tasks = context.Pipe(duplex=False)
        self._results, result_writer = context.Pipe(duplex=False)
        for connection in (self._tasks, self._results):
            _widen(connection)
        self._process = context.Process(
            target=_serve,
            args=(settings, task_reader, result_writer),
            name="vigil-helper",
            daemon=True,
        )
        self._process.start()
        task_reader.close()
        result_writer.close()
        # The sender needs the interpreter lock only to start each write; the pipe holds the
        # next batch or two meanwhile.
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._send_error: BaseException | None = None
        self._sender = threading.Thread(
            target=self._send_loop, name="vigil-helper-send", daemon=True
        )
        self._sender.start()
        self._next = 0
        self._received: dict[int, bytes] = {}
        self._received_count = 0
        self.detect_while_backlog_below = DETECT_WHILE_BACKLOG_BELOW

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def submit(self, batch: LineBatch, site: str) -> Prefetched:
        """Send `batch` to the helper; raises HelperLost once it is gone."""
        if self._send_error is not None:
            raise HelperLost(f"cannot send to the helper: {self._send_error}")
        self._take_ready()
        detects = self._next - self._received_count < self.detect_while_backlog_below
        seq = self._next
        payload = _BATCH + marshal.dumps(
            (
                seq,
                detects,
                site,
                batch.source,
                batch.file_id,
                batch.lines,
                batch.offsets,
                batch.end_offset,
                sorted(batch.oversized),
            )
        )
        self._outbox.put(payload)
        self._next += 1
        return Prefetched(seq, detects)

    def set_exclusions(self, exclusions: ExclusionSet) -> None:
        """Put `exclusions` in force for every batch submitted from now on."""
        self._control(("exclusions", exclusions))

    def restore(self, snapshot: bytes) -> None:
        """Restore the helper's behaviour windows from `snapshot` before the next batch."""
        self._control(("restore", snapshot))

    def snapshot(self) -> bytes:
        """The helper's behaviour windows after every batch submitted so far (waits for them)."""
        seq = self._control(("snapshot", None), reply=True)
        while seq not in self._received:
            self._receive()
        outcome = pickle.loads(self._received.pop(seq))
        if isinstance(outcome, str):
            raise HelperLost(f"the helper failed: {outcome}")
        data: bytes = outcome
        return data

    def _control(self, message: tuple[str, object], *, reply: bool = False) -> int:
        if self._send_error is not None:
            raise HelperLost(f"cannot send to the helper: {self._send_error}")
        seq = -1
        if reply:
            seq = self._next
            self._next += 1
        self._outbox.put(_CONTROL + pickle.dumps((seq, message)))
        return seq

    def result(self, prefetched: Prefetched) -> HelperResult:
        """The helper's result for a submitted batch, waiting for it if need be."""
        seq = prefetched.seq
        while seq not in self._received:
            self._receive()
        data = self._received.pop(seq)
        # Results of batches that were never collected (their analysis failed) are dropped.
        for stale in [k for k in self._received if k < seq]:
            del self._received[stale]
        outcome = pickle.loads(data)
        if isinstance(outcome, str):
            raise HelperLost(f"the helper failed: {outcome}")
        result: HelperResult = outcome
        return result

    def close(self) -> None:
        """Stop the helper, discarding work not yet collected."""
        self._outbox.put(b"")  # after the batches still queued: the helper's sign to stop
        self._outbox.put(None)
        self._process.join(timeout=1 if self._next > self._received_count else 5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._sender.join(timeout=5)
        self._tasks.close()
        self._results.close()

    def _send_loop(self) -> None:
        while (payload := self._outbox.get()) is not None:
            try:
                self._tasks.send_bytes(payload)
            except (OSError, ValueError) as exc:
                self._send_error = exc
                return

    def _take_ready(self) -> None:
        try:
            while self._results.poll():
                self._receive()
        except HelperLost:
            pass  # reported when the result is asked for

    def _receive(self) -> None:
        try:
            data = self._results.recv_bytes()
        except (EOFError, OSError, ValueError) as exc:
            raise HelperLost(f"the helper is gone ({type(exc).__name__})") from exc
        seq = int.from_bytes(data[:8], "little")
        self._received[seq] = data[8:]
        self._received_count += 1


def _widen(connection: Connection) -> None:
    """Let a pipe hold a few batches, so that sending one seldom waits for the reader."""
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is None:  # pragma: no cover - not Linux
        return
    for size in (PIPE_BYTES, 1 << 20):
        try:
            fcntl.fcntl(connection.fileno(), setter, size)
            return
        except OSError:
            continue


def _serve(settings: Settings, tasks: Connection, results: Connection) -> None:
    """The helper's loop: a batch in, its result out, until the parent closes the pipe."""
    # Ctrl-C reaches the whole process group; the parent decides what happens and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        share = _build(settings)
    except Exception:
        # The parent meets the same problem (a bad setting) and reports it in one line, or
        # sees this pipe close and carries on alone: no traceback from here.
        return
    while True:
        try:
            payload = tasks.recv_bytes()
        except (EOFError, OSError):
            return
        if not payload:
            return
        if payload[:1] == _CONTROL:
            seq, message = pickle.loads(payload[1:])
            answer = _apply_control(share, message)
            if seq < 0:
                continue
            try:
                results.send_bytes(seq.to_bytes(8, "little") + pickle.dumps(answer))
            except (OSError, ValueError):
                return
            continue
        seq, detects, site, source, file_id, lines, offsets, end_offset, oversized = marshal.loads(
            payload[1:]
        )
        batch = LineBatch(source, file_id, lines, offsets, end_offset, frozenset(oversized))
        outcome: HelperResult | str
        try:
            outcome = _process(share, batch, site, detects)
        except Exception as exc:  # reported to the parent, which carries on without us
            outcome = f"{type(exc).__name__}: {exc}"
        try:
            results.send_bytes(seq.to_bytes(8, "little") + pickle.dumps(outcome))
        except (OSError, ValueError):
            return


@dataclass(frozen=True, slots=True)
class _Share:
    """The stages the helper runs for the main process: the same stage objects, over the same
    batch type, as the main process's `Analyzer` composes."""

    parse: ParseStage
    rules: RulesStage
    behaviour: BehaviourStage


def _apply_control(share: _Share, message: tuple[str, object]) -> bytes | str | None:
    """Apply one control update; the answer is the snapshot asked for, or an error text."""
    kind, value = message
    try:
        if kind == "exclusions":
            assert isinstance(value, ExclusionSet)
            share.rules.set_exclusions(value)
            share.behaviour.set_exclusions(value)
        elif kind == "restore":
            assert isinstance(value, bytes)
            share.behaviour.behaviour.restore(value)
        elif kind == "snapshot":
            return share.behaviour.behaviour.snapshot()
    except Exception as exc:  # reported to the parent when it waits for an answer
        return f"{type(exc).__name__}: {exc}"
    return None


def _build(settings: Settings) -> _Share:
    stages = Stages.from_settings(settings)
    share = _Share(
        ParseStage(stages.parser),
        RulesStage(stages.detection),
        BehaviourStage(
            stages.behaviour,
            stages.enricher,
            enabled=settings.behaviour.enabled,
            exclusions=stages.detection.exclusions,
        ),
    )
    tune_gc()
    return share


def _process(share: _Share, batch: LineBatch, site: str, detect: bool) -> HelperResult:
    clock = time.perf_counter
    work = Work(batch, site)
    t0 = clock()
    share.parse(work)
    t1 = clock()
    share.behaviour(work)
    t2 = clock()
    timings = {"helper_parse": t1 - t0, "helper_behaviour": t2 - t1}
    detections = None
    if detect:
        share.rules(work)
        detections = encode_detections(work.detections)
        timings["helper_detect"] = clock() - t2
    return HelperResult(len(work.records), work.events, detections, timings)
