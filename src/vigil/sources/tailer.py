"""Following log files and globs like `tail -F`, handing out batches of complete lines.

`FileTailer` polls with `os.stat` (no inotify, so it works on every filesystem and in
containers) and follows *files*, not names: each open file is keyed by (device, inode) and read
through its own descriptor, so a rename never loses bytes.

What it handles:

- rename rotation (logrotate `create`): `x.log` is renamed and a new `x.log` appears. The old
  file keeps being read to its end, and for `rotate_linger_ms` after it stopped growing, because
  the web server goes on writing to it until it reopens its log; then it is closed. The new file
  is read from offset 0 meanwhile.
- `copytruncate`: a file shrinking below the read position, or whose first bytes no longer hash
  to its identity, was truncated in place: it becomes a new stream read from offset 0. The bytes
  the old stream had not read yet (including an unterminated line it was waiting on) are only
  in the copy (`x.log.1`, perhaps `.gz`): the tailer recognises it by the stream's fingerprinted
  first bytes, whether a watched glob matches it or it is one of the path's rotated
  generations (`vigil.sources.rotated`), and reads exactly the part it had not read, before the
  new content. Where no copy is found, a warning gives the offset after which bytes are lost.
  Known limit of copytruncate itself: lines written between logrotate's copy and its truncate
  are in neither file, and no reader can recover them; the tailer reports where that gap
  starts (`_report_gap`: the copy's end, or where reading had got to if that is further), in
  `stats.unrecoverable`, a log line and a counter. Prefer rename rotation (`create`), which
  loses nothing.
- delete and recreate, files that do not exist yet (each watched path is stat'ed on every poll)
  and globs (re-evaluated every `glob_interval_ms`).
- gzip files (recognised by their magic bytes, whatever the name) are read once, to the end,
  never followed. A .gz that is a compressed rotation of a stream already read (same first
  bytes) continues that stream under its file_id from where it was left, so nothing is read
  twice. A .gz still being written is retried until it ends properly; one that stays cut short
  for `10 * rotate_linger_ms` is reported as damaged and its readable lines are kept.
- checkpoints: at start, `CheckpointStore.load_all(source)` gives file_id -> offset. A file
  whose device, inode and first bytes match a stored id resumes at the stored offset under that
  id; otherwise it is a new stream read from 0 (or from its end with `start_at="end"`, for
  files present at start only). The tailer never writes checkpoints: the sink stores
  `batch.end_offset` with the batch's events.
- rotated while vigil was stopped: before following anything, the tailer looks at the rotated
  generations of every watched file (`x.log.1`, `x.log.2.gz`, `x.log-20240131`, … see
  `vigil.sources.rotated`) that no watched glob covers. One that holds a checkpointed stream
  with an unread rest (found by inode, or for a copy or a `.gz` by the stream's fingerprinted
  first bytes, which the file_id carries) is read from its checkpoint to its end; a generation
  no checkpoint knows but newer than one that is known was rotated away unseen (several
  rotations while stopped) and is read whole. They are read oldest first, each once (its
  checkpoint then sits at its end), before the live file, and each is logged. Generations
  older than every known one are history from before vigil followed the file: left alone.

Lines: see `vigil.sources.linesplit`. A batch never holds a partial line; an unterminated last
line waits for its newline and is emitted only when its file is finished (rotated or deleted
away from every watched path and idle for `rotate_linger_ms`, or at the end of a .gz). A
rotated file still matched by a watched glob is still followed, so its unterminated last line
waits until the file leaves the watched set. `stop()` never emits an unterminated line: the
checkpoint stays before it and the next run reads it whole.

Backpressure and memory: `batches()` is an async generator, so nothing is read while the
consumer is not asking; `run(queue)` feeds a bounded queue with `await queue.put`. In flight at
any time: the queue, the batch being handed over, and per open file one read chunk and one
batch being filled (at most `batch_size` lines and about `batch_max_bytes` bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import gzip
import logging
import os
import stat
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Literal

from vigil import metrics
from vigil.batch import LineBatch
from vigil.sources.checkpoints import CheckpointStore
from vigil.sources.identity import FINGERPRINT_BYTES, GZIP_MAGIC, FileIdentity, content_digest
from vigil.sources.linesplit import EMPTY_SPLIT, BatchBuilder, LineSplitter, SplitLines
from vigil.sources.rotated import Generation, generations_to_read, rotated_siblings

if TYPE_CHECKING:
    from vigil.config import FileSourceSection

log = logging.getLogger(__name__)

InodeKey = tuple[int, int]
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


@dataclass(slots=True)
class TailerStats:
    """Counters of one tailer, for metrics and tests."""

    files_opened: int = 0
    files_closed: int = 0
    rotations: int = 0
    truncations: int = 0
    bytes_read: int = 0
    lines: int = 0
    oversized_lines: int = 0
    batches: int = 0
    recovered_files: int = 0
    recovered_bytes: int = 0
    unrecoverable: list[tuple[str, int]] = field(default_factory=list)
    """(file_id, offset) of each stream whose bytes from `offset` to where it was truncated
    are in no file (see `FileTailer._report_gap`)."""


class _Stream:
    """A log stream the tailer knows: its id and how far its lines were handed out."""

    __slots__ = ("active", "file_id", "head_digest", "identity", "position")

    def __init__(
        self, identity: FileIdentity, file_id: str, position: int, head_digest: str | None
    ) -> None:
        self.identity = identity
        self.file_id = file_id
        self.position = position
        self.head_digest = head_digest
        self.active = False


class _Streams:
    """Every stream known from checkpoints or seen in this run, found by inode or first bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_inode: dict[InodeKey, list[_Stream]] = {}
        self._by_head: dict[str, list[_Stream]] = {}
        self._by_span: dict[int, dict[str, list[_Stream]]] = {}

    def seed(self, checkpoints: Mapping[str, int]) -> None:
        for file_id, offset in checkpoints.items():
            identity = FileIdentity.parse(file_id)
            if identity is None:
                continue
            head = identity.digest if identity.span == self.limit else None
            self.add(_Stream(identity, file_id, offset, head))

    def add(self, stream: _Stream) -> None:
        identity = stream.identity
        self._by_inode.setdefault(identity.inode_key, []).append(stream)
        if stream.head_digest is not None:
            self._by_head.setdefault(stream.head_digest, []).append(stream)
        self._by_span.setdefault(identity.span, {}).setdefault(identity.digest, []).append(stream)

    def set_head(self, stream: _Stream, digest: str) -> None:
        stream.head_digest = digest
        self._by_head.setdefault(digest, []).append(stream)

    def by_inode(self, key: InodeKey) -> list[_Stream]:
        return self._by_inode.get(key, [])

    def by_head(self, digest: str) -> list[_Stream]:
        return self._by_head.get(digest, [])

    def by_content(self, head: bytes) -> list[_Stream]:
        """Streams whose identifying first bytes `head` starts with, whatever file they were
        in: a copy or a compressed rotation of them."""
        found: dict[int, _Stream] = {}
        if len(head) >= self.limit:
            found.update((id(s), s) for s in self.by_head(content_digest(head[: self.limit])))
        for span, by_digest in self._by_span.items():
            if span <= len(head):
                found.update((id(s), s) for s in by_digest.get(content_digest(head[:span]), []))
        return list(found.values())


@dataclass(slots=True)
class _Probe:
    """What a first look at a newly seen file found."""

    path: str
    fd: int
    key: InodeKey
    size: int
    compressed: bool
    head: bytes
    tail_start: int
    unready: bool = False
    mtime: float = 0.0


@dataclass(slots=True)
class _Read:
    """What one read step on a plain file found."""

    size: int
    data: bytes = b""
    head: bytes = b""
    replaced: bool = False


class _GzipCursor:
    """Sequential decompressed reads of a .gz file, resumable at a decompressed offset."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self._raw: BinaryIO | None = None
        self._gz: gzip.GzipFile | None = None
        self._at = 0

    def read(self, want: int, position: int) -> bytes:
        if self._gz is None or self._at != position:
            self.close_stream()
            self._raw = os.fdopen(os.dup(self.fd), "rb")
            # A dup shares the file offset with every other dup of this descriptor.
            self._raw.seek(0)
            self._gz = gzip.GzipFile(fileobj=self._raw, mode="rb")
            self._at = 0
            while self._at < position:
                skipped = self._gz.read1(min(want, position - self._at))
                if not skipped:
                    break
                self._at += len(skipped)
        # read1 returns what one decompression step gives, so the readable start of a stream
        # that is cut short (still being written) comes out before the EOFError does.
        parts: list[bytes] = []
        got = 0
        while got < want:
            try:
                part = self._gz.read1(want - got)
            except EOFError:
                if parts:
                    break
                raise
            if not part:
                break
            parts.append(part)
            got += len(part)
        self._at += got
        return b"".join(parts)

    def close_stream(self) -> None:
        if self._gz is not None:
            self._gz.close()
        if self._raw is not None:
            self._raw.close()
        self._gz = None
        self._raw = None


class _Follower:
    """One open file being read: its descriptor, stream, line splitter and batch in progress."""

    def __init__(
        self, probe: _Probe, stream: _Stream | None, start: int, tailer: FileTailer
    ) -> None:
        self.key = probe.key
        self.path = probe.path
        self.fd = probe.fd
        self.compressed = probe.compressed
        self.gz = _GzipCursor(probe.path, probe.fd) if probe.compressed else None
        self.stream = stream
        self.splitter = LineSplitter(start, tailer.max_line_bytes)
        self.ready: SplitLines = EMPTY_SPLIT
        self.builder = BatchBuilder(tailer.batch_size, tailer.batch_max_bytes)
        self.size = probe.size
        self.idle_since = time.monotonic()
        self.retired_at: float | None = None
        self.at_eof = False
        self.busy = False
        self.gz_retry_at = 0.0
        self.gz_failed_stat: tuple[int, int] | None = None
        self.gz_failed_since = 0.0
        self.done = False
        self.settled = False
        """No writer will add to this file any more: it is finished at its end, without the
        linger that a just-rotated file gets."""


class FileTailer:
    """Follows files and globs like `tail -F` and hands out LineBatches of complete lines."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        source: str = "files",
        checkpoints: CheckpointStore | None = None,
        batch_size: int = 2048,
        batch_time_ms: int = 20,
        batch_max_bytes: int = 8 << 20,
        read_chunk_bytes: int = 1 << 20,
        max_line_bytes: int = 1 << 20,
        poll_interval_ms: int = 25,
        glob_interval_ms: int = 500,
        rotate_linger_ms: int = 2000,
        start_at: Literal["beginning", "end"] = "beginning",
        fingerprint_bytes: int = FINGERPRINT_BYTES,
        chunks_per_poll: int = 4,
    ) -> None:
        if batch_size < 1 or read_chunk_bytes < 1 or max_line_bytes < 1:
            raise ValueError("batch_size, read_chunk_bytes and max_line_bytes must be positive")
        specs = [os.path.expanduser(os.fspath(p)) for p in paths]
        self.source = source
        self.batch_size = batch_size
        self.batch_time = batch_time_ms / 1000
        self.batch_max_bytes = batch_max_bytes
        self.read_chunk_bytes = read_chunk_bytes
        self.max_line_bytes = max_line_bytes
        self.poll_interval = poll_interval_ms / 1000
        self.glob_interval = glob_interval_ms / 1000
        self.rotate_linger = rotate_linger_ms / 1000
        self.start_at = start_at
        self.fingerprint_bytes = fingerprint_bytes
        self.chunks_per_poll = max(1, chunks_per_poll)
        self.stats = TailerStats()
        self._store = checkpoints
        self._explicit = [p for p in specs if not glob.has_magic(p)]
        self._patterns = [p for p in specs if glob.has_magic(p)]
        self._globbed: tuple[str, ...] = ()
        self._next_glob = 0.0
        self._streams = _Streams(fingerprint_bytes)
        self._followers: dict[InodeKey, _Follower] = {}
        self._finished: set[tuple[int, int, int, int]] = set()
        self._deferred: dict[InodeKey, float] = {}
        self._warned: set[InodeKey] = set()
        self._truncated: list[tuple[str, _Stream]] = []
        self._stopping = asyncio.Event()
        self._started = False
        self._run_task: asyncio.Task[None] | None = None

    @classmethod
    def from_section(
        cls,
        section: FileSourceSection,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        *,
        source: str = "files",
        checkpoints: CheckpointStore | None = None,
        **options: int | str,
    ) -> FileTailer:
        """A tailer of `paths` (default: the section's, `VIGIL_LOG_PATHS`) sized by the
        settings' file-source section."""
        return cls(
            section.paths if paths is None else paths,
            source=source,
            checkpoints=checkpoints,
            batch_size=section.batch_size,
            batch_time_ms=section.batch_time_ms,
            read_chunk_bytes=section.read_chunk_bytes,
            max_line_bytes=section.max_line_bytes,
            **options,  # type: ignore[arg-type]
        )

    def __aiter__(self) -> AsyncIterator[LineBatch]:
        return self.batches()

    async def run(self, queue: asyncio.Queue[LineBatch]) -> None:
        """Puts every batch into `queue` (waiting while it is full) until `stop()`."""
        self._run_task = asyncio.current_task()
        async with contextlib.aclosing(self.batches()) as batches:
            async for batch in batches:
                await queue.put(batch)

    async def stop(self) -> None:
        """Stops reading; complete lines already read are still handed out, then it ends.

        When `run()` is going in another task, waits until it has handed over its last batch
        (so the consumer must keep taking from the queue). Cancelling the task instead is also
        safe: checkpoints never moved past what the consumer stored.
        """
        self._stopping.set()
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            await asyncio.wait({task})

    async def batches(self) -> AsyncGenerator[LineBatch, None]:
        """Batches of complete lines, as files grow, until `stop()` is called."""
        if self._started:
            raise RuntimeError("a FileTailer runs once; make a new one to restart")
        self._started = True
        if self._store is not None:
            self._streams.seed(await self._store.load_all(self.source))
        first = True
        try:
            if self._store is not None:
                async for batch in self._recover_rotated():
                    yield batch
            while not self._stopping.is_set():
                await self._survey(first)
                first = False
                busy = False
                for follower in self._in_reading_order():
                    async for batch in self._pump(follower):
                        yield batch
                    busy = busy or follower.busy
                    while self._truncated:
                        path, stream = self._truncated.pop(0)
                        async for batch in self._recover_copy(path, stream):
                            yield batch
                now = time.monotonic()
                for follower in self._in_reading_order():
                    if follower.builder and follower.builder.age(now) >= self.batch_time:
                        yield self._take(follower)
                    if self._is_finished(follower, now):
                        async for batch in self._finish(follower):
                            yield batch
                if not busy:
                    await self._pause()
            for follower in self._in_reading_order():
                while follower.ready.remaining:
                    if follower.builder.fill(follower.ready):
                        yield self._take(follower)
                if follower.builder:
                    yield self._take(follower)
        finally:
            for follower in list(self._followers.values()):
                self._close(follower)

    def _in_reading_order(self) -> list[_Follower]:
        # Rotated-away files first, so an old file's last lines come before the new file's.
        return sorted(self._followers.values(), key=lambda f: f.retired_at is None)

    async def _pause(self) -> None:
        wait = self.poll_interval
        now = time.monotonic()
        for follower in self._followers.values():
            if follower.builder:
                wait = min(wait, self.batch_time - follower.builder.age(now))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(wait, 0.001)):
                await self._stopping.wait()

    async def _survey(self, first: bool) -> None:
        now = time.monotonic()
        glob_due = first or now >= self._next_glob
        if glob_due:
            found, globbed = await asyncio.to_thread(self._stat_paths, glob_due)
        else:
            # A few stat calls on known paths cost less than waking a worker thread, which
            # is most of what an idle tailer spends; directory listings stay in the thread.
            found, globbed = self._stat_paths(glob_due)
        if glob_due:
            self._globbed = globbed
            self._next_glob = now + self.glob_interval
        reachable: set[InodeKey] = set()
        for path, st in found.items():
            key = (st.st_dev, st.st_ino)
            follower = self._followers.get(key)
            if follower is not None:
                follower.path = path
                reachable.add(key)
                continue
            if (*key, st.st_size, st.st_mtime_ns) in self._finished:
                continue
            if self._deferred.get(key, 0.0) > now:
                continue
            probe = await asyncio.to_thread(self._probe, path, key, first)
            if probe is None:
                self._deferred[key] = now + self.glob_interval
                continue
            if self._open(probe, first, now):
                reachable.add(key)
        for key, follower in self._followers.items():
            if key in reachable:
                follower.retired_at = None
            elif follower.retired_at is None and follower.gz is None:
                follower.retired_at = now
                follower.idle_since = now
                self.stats.rotations += 1
                log.info("file rotated away path=%s file_id=%s", follower.path, _id_of(follower))

    def _stat_paths(self, glob_due: bool) -> tuple[dict[str, os.stat_result], tuple[str, ...]]:
        if glob_due:
            matched: set[str] = set()
            for pattern in self._patterns:
                matched.update(glob.glob(pattern, recursive=True))
            globbed = tuple(sorted(matched))
        else:
            globbed = self._globbed
        found: dict[str, os.stat_result] = {}
        for path in dict.fromkeys([*self._explicit, *globbed]):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found[path] = st
        return found, globbed

    def _probe(self, path: str, key: InodeKey, first: bool) -> _Probe | None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            self._warn_once(key, "cannot open path=%s error=%s", path, exc)
            return None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != key:
                os.close(fd)  # replaced between stat and open; the next poll sees the new one
                return None
            limit = self.fingerprint_bytes
            head = os.pread(fd, limit, 0)
            compressed = head.startswith(GZIP_MAGIC)
            tail_start = 0
            unready = False
            if compressed:
                head, ended = _gzip_head(fd, limit)
                # A .gz still being written whose start is not readable yet cannot be matched
                # with the stream it may continue: look again later.
                unready = len(head) < limit and not ended
            elif first and self.start_at == "end":
                tail_start = _last_line_end(fd, st.st_size)
        except GZIP_ERRORS as exc:
            self._warn_once(key, "cannot read compressed path=%s error=%s", path, exc)
            os.close(fd)
            return None
        except OSError as exc:
            self._warn_once(key, "cannot read path=%s error=%s", path, exc)
            os.close(fd)
            return None
        return _Probe(path, fd, key, st.st_size, compressed, head, tail_start, unready, st.st_mtime)

    def _warn_once(self, key: InodeKey, message: str, *args: object) -> None:
        # A file that cannot be read is retried every glob interval; say so once, not each time.
        if key in self._warned:
            log.debug(message, *args)
        else:
            self._warned.add(key)
            log.warning(message, *args)

    def _open(self, probe: _Probe, first: bool, now: float) -> bool:
        """Starts following a newly seen file, or leaves it for later; True if followed."""
        limit = self.fingerprint_bytes
        stream: _Stream | None = None
        start = 0
        if probe.unready:
            os.close(probe.fd)
            self._deferred[probe.key] = now + self.glob_interval
            return False
        resumable = [
            s for s in self._streams.by_inode(probe.key) if s.identity.verifies(probe.head)
        ]
        if resumable:
            best = max(resumable, key=lambda s: (s.identity.span, s.position))
            if probe.compressed or best.position <= probe.size:
                stream, start = best, best.position
            else:
                log.warning(
                    "file shorter than its checkpoint, reading it from the start "
                    "path=%s file_id=%s checkpoint=%d size=%d",
                    probe.path,
                    best.file_id,
                    best.position,
                    probe.size,
                )
        if stream is None and len(probe.head) >= limit:
            digest = content_digest(probe.head[:limit])
            copies_of = [
                s for s in self._streams.by_head(digest) if s.identity.inode_key != probe.key
            ]
            if any(s.active for s in copies_of):
                # A copy of a file still being read (copytruncate before its truncate, or a
                # backup): wait; if the original gets truncated, the copy holds its rest.
                os.close(probe.fd)
                self._deferred[probe.key] = now + self.glob_interval
                return False
            if copies_of:
                best = max(copies_of, key=lambda s: s.position)
                if not probe.compressed and best.position >= probe.size:
                    os.close(probe.fd)
                    self._deferred[probe.key] = now + self.glob_interval
                    return False
                stream, start = best, best.position
                log.info(
                    "file continues a known stream path=%s file_id=%s offset=%d",
                    probe.path,
                    best.file_id,
                    best.position,
                )
        if stream is None:
            identity = FileIdentity.of(
                probe.key[0], probe.key[1], probe.head, limit, complete=probe.compressed
            )
            if identity is not None:
                stream = self._new_stream(identity, probe.head)
            if first and self.start_at == "end" and not probe.compressed:
                start = probe.tail_start
        if stream is not None:
            stream.active = True
        self._followers[probe.key] = _Follower(probe, stream, start, self)
        self._deferred.pop(probe.key, None)
        self.stats.files_opened += 1
        log.info(
            "following path=%s file_id=%s offset=%d compressed=%s",
            probe.path,
            stream.file_id if stream else "-",
            start,
            probe.compressed,
        )
        return True

    def _new_stream(self, identity: FileIdentity, head: bytes) -> _Stream:
        limit = self.fingerprint_bytes
        digest = content_digest(head[:limit]) if len(head) >= limit else None
        stream = _Stream(identity, identity.file_id, 0, digest)
        self._streams.add(stream)
        return stream

    # ------------------------------------------------ rotated generations not watched
    async def _recover_rotated(self) -> AsyncIterator[LineBatch]:
        """At start: reads what rotated generations of the watched files hold that no run
        handed out (see `vigil.sources.rotated`), oldest first, before any watched file."""
        found, _ = await asyncio.to_thread(self._stat_paths, True)
        watched = set(found)
        live = {path: (st.st_dev, st.st_ino) for path, st in found.items()}
        for path in dict.fromkeys([*self._explicit, *sorted(found)]):
            key = live.get(path)
            truncated, copytruncated = (
                await asyncio.to_thread(self._truncated_in_place, path, key)
                if key is not None
                else (None, False)
            )
            plan = await asyncio.to_thread(self._plan_recovery, path, watched)
            try:
                while plan and not self._stopping.is_set():
                    probe, stream = plan.pop(0)
                    copied = _is_copy(probe, stream, key, copytruncated)
                    async for batch in self._read_generation(probe, stream, copied=copied):
                        yield batch
            finally:
                for probe, _ in plan:
                    os.close(probe.fd)
            reported = {file_id for file_id, _ in self.stats.unrecoverable}
            if truncated is not None and truncated.file_id not in reported:
                # Its copy held nothing unread: the gap starts where the checkpoint is.
                self._report_gap(path, truncated, truncated.position)

    def _truncated_in_place(self, path: str, key: InodeKey) -> tuple[_Stream | None, bool]:
        """What copytruncate did to the file now at `path` (inode `key`) while vigil was
        stopped: the known stream whose plain copy is the newest rotated file (it was
        truncated last; None if there is none), and whether any known stream of this inode
        has a plain copy at all (then this log is rotated by copytruncate, and a newer copy no
        checkpoint knows is one too).

        Only a plain copy (another inode whose first bytes are the stream's) is taken as proof:
        a compressed rotation of a stream whose inode a new file reuses looks the same as a
        compressed copy, and is not a gap."""
        streams = [st for st in self._streams.by_inode(key) if st.position]
        if not streams:
            return None, False
        try:
            live_head = _read_head(path, self.fingerprint_bytes)
        except OSError:
            return None, False
        gone = [st for st in streams if not st.identity.verifies(live_head)]
        if not gone:
            return None, False
        heads = _plain_heads(path, key, self.fingerprint_bytes)
        copied = [h for h in heads if any(st.identity.verifies(h) for st in gone)]
        if not copied:
            return None, False
        newest = heads[-1]
        latest = [st for st in gone if st.identity.verifies(newest)]
        return (max(latest, key=lambda st: st.position) if latest else None), True

    async def _recover_copy(self, path: str, stream: _Stream) -> AsyncIterator[LineBatch]:
        """After `path` was truncated in place: reads the unread rest of its old content from
        the copy that copytruncate left beside it, if an unwatched rotated file holds it."""
        watched = {*self._explicit, *self._globbed}
        plan = await asyncio.to_thread(self._plan_recovery, path, watched, only=stream)
        if not plan:
            if not any(r.path in watched for r in rotated_siblings(path)):
                # No copy holds anything past what was read: it ends where reading stopped,
                # or there is none.
                self._report_gap(path, stream, stream.position)
            return
        probe, _ = plan[0]
        async for batch in self._read_generation(probe, stream, copied=True):
            yield batch

    def _plan_recovery(
        self, path: str, watched: set[str], only: _Stream | None = None
    ) -> list[tuple[_Probe, _Stream | None]]:
        """Opens the rotated generations of `path` worth reading (none of them watched), in
        reading order, each with the known stream it continues (None: a new one)."""
        probes: list[_Probe] = []
        found: list[Generation] = []
        for rotated in rotated_siblings(path):
            if rotated.path in watched:
                continue
            if not rotated.readable:
                log.debug("rotated file not read: compression is not gzip path=%s", rotated.path)
                continue
            try:
                st = os.stat(rotated.path)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in self._followers:
                continue
            probe = self._probe(rotated.path, key, first=False)
            if probe is None:
                continue
            if probe.unready:
                # Being compressed: its plain original is still there and is read instead.
                os.close(probe.fd)
                continue
            stream = self._known_stream(probe)
            if only is not None and stream is not only:
                os.close(probe.fd)
                continue
            probes.append(probe)
            found.append(Generation(stream, stream is not None and _has_unread(probe, stream)))
        chosen = set(generations_to_read(found))
        plan = []
        for i, probe in enumerate(probes):
            if i in chosen:
                plan.append((probe, _stream_of(found[i])))
            else:
                os.close(probe.fd)
        return plan

    def _known_stream(self, probe: _Probe) -> _Stream | None:
        """The stream, known from checkpoints or this run, that the file of `probe` holds."""
        if not probe.compressed:
            same_file = [
                s for s in self._streams.by_inode(probe.key) if s.identity.verifies(probe.head)
            ]
            if same_file:
                return max(same_file, key=lambda s: (s.identity.span, s.position))
        copies = [
            s for s in self._streams.by_content(probe.head) if s.identity.inode_key != probe.key
        ]
        return max(copies, key=lambda s: s.position) if copies else None

    async def _read_generation(
        self, probe: _Probe, stream: _Stream | None, *, copied: bool
    ) -> AsyncIterator[LineBatch]:
        """Reads one rotated generation to its end: from `stream`'s position, or all of it."""
        start = 0
        if stream is None:
            identity = FileIdentity.of(
                probe.key[0], probe.key[1], probe.head, self.fingerprint_bytes, complete=True
            )
            if identity is not None:
                stream = self._new_stream(identity, probe.head)
        else:
            start = stream.position
        if stream is not None:
            stream.active = True
        f = _Follower(probe, stream, start, self)
        self._followers[probe.key] = f
        self.stats.files_opened += 1
        now = time.monotonic()
        f.retired_at = now
        # Only a generation rotated moments ago may still get the server's last lines (until
        # it reopens its log); an older one is finished at its end.
        f.settled = time.time() - probe.mtime >= self.rotate_linger
        log.info(
            "reading rotated file that was not read to its end path=%s file_id=%s offset=%d "
            "compressed=%s known=%s",
            probe.path,
            _id_of(f),
            start,
            probe.compressed,
            start > 0 or copied,
        )
        while not f.done:
            async for batch in self._pump(f):
                yield batch
            now = time.monotonic()
            if f.builder and f.builder.age(now) >= self.batch_time:
                yield self._take(f)
            if self._is_finished(f, now):
                async for batch in self._finish(f):
                    yield batch
                break
            if self._stopping.is_set():
                return
            if not f.busy:
                await self._pause()
        end = f.stream.position if f.stream is not None else start
        self.stats.recovered_files += 1
        self.stats.recovered_bytes += end - start
        log.info(
            "recovered rotated file path=%s file_id=%s bytes=%d range=%d-%d",
            probe.path,
            _id_of(f),
            end - start,
            start,
            end,
        )
        if copied and f.stream is not None:
            self._report_gap(probe.path, f.stream, end)

    def _report_gap(self, path: str, stream: _Stream, offset: int) -> None:
        """Says that the bytes of `stream` from `offset` to where its file was truncated are
        in no file: copytruncate copied the file up to `offset`, and what the writer added
        before the truncate was erased unread. How far that went nobody can tell after the
        truncate (it may be nothing at all); the start is exact."""
        if (stream.file_id, offset) in self.stats.unrecoverable:
            return
        self.stats.unrecoverable.append((stream.file_id, offset))
        metrics.UNRECOVERABLE_RANGES.inc()
        log.warning(
            "unrecoverable range file_id=%s from=%d to=truncation path=%s: the file was "
            "truncated in place (copytruncate); what was written to it after its copy was made "
            "and before the truncate is in neither file",
            stream.file_id,
            offset,
            path,
        )

    async def _pump(self, f: _Follower, *, final: bool = False) -> AsyncIterator[LineBatch]:
        """Reads what `f` has (up to the per-poll budget unless `final`), yielding full batches."""
        f.busy = False
        budget = self.chunks_per_poll
        while True:
            while f.ready.remaining:
                if f.builder.fill(f.ready):
                    yield self._take(f)
            if f.done or (budget <= 0 and not final):
                f.busy = not f.done
                return
            if f.gz is not None:
                if not await self._read_gzip(f):
                    return
            else:
                outcome = await self._read_plain(f, final=final)
                if outcome == "replaced":
                    async for batch in self._restart_replaced(f):
                        yield batch
                    # The old content's unread rest, if its copy is found, comes first.
                    return
                if outcome == "idle":
                    return
            budget -= 1

    async def _read_plain(self, f: _Follower, *, final: bool) -> str:
        stream = f.stream
        want_head = stream is None or (
            stream.head_digest is None and f.size >= self.fingerprint_bytes
        )
        check = stream.identity if stream is not None else None
        if stream is not None and not want_head and not final:
            # Cheap check on the loop itself: an idle file costs no thread hand-off.
            try:
                if os.fstat(f.fd).st_size == f.splitter.position == f.size:
                    f.at_eof = True
                    return "idle"
            except OSError:
                pass
        try:
            result = await asyncio.to_thread(
                _read_plain_step,
                f.fd,
                f.splitter.position,
                self.read_chunk_bytes if stream is not None else 0,
                check,
                self.fingerprint_bytes if want_head else 0,
            )
        except OSError as exc:
            log.warning("read failed path=%s error=%s", f.path, exc)
            f.at_eof = True
            return "idle"
        if result.replaced:
            return "replaced"
        f.size = result.size
        if stream is None:
            if result.head.startswith(GZIP_MAGIC):
                # Was empty when first seen, now turns out to be gzip (being compressed):
                # let the next survey look at it afresh as a compressed file.
                self._close(f)
                return "idle"
            identity = FileIdentity.of(
                f.key[0], f.key[1], result.head, self.fingerprint_bytes, complete=final
            )
            if identity is None:
                f.at_eof = True
                return "idle"
            stream = self._new_stream(identity, result.head)
            stream.active = True
            f.stream = stream
            log.info("file identified path=%s file_id=%s", f.path, stream.file_id)
            return "read"
        if want_head and len(result.head) >= self.fingerprint_bytes:
            self._streams.set_head(stream, content_digest(result.head[: self.fingerprint_bytes]))
        if not result.data:
            f.at_eof = True
            return "idle"
        f.at_eof = False
        f.idle_since = time.monotonic()
        self.stats.bytes_read += len(result.data)
        f.ready = f.splitter.feed(result.data)
        return "read"

    async def _read_gzip(self, f: _Follower) -> bool:
        """Reads the next decompressed chunk of a .gz; False when there is nothing now."""
        assert f.gz is not None
        now = time.monotonic()
        if f.at_eof or now < f.gz_retry_at:
            return False
        try:
            data = await asyncio.to_thread(f.gz.read, self.read_chunk_bytes, f.splitter.position)
        except (*GZIP_ERRORS, OSError) as exc:
            f.gz.close_stream()
            st = os.fstat(f.fd)
            seen = (st.st_size, st.st_mtime_ns)
            if seen != f.gz_failed_stat:
                f.gz_failed_stat = seen
                f.gz_failed_since = now
            if isinstance(exc, EOFError) and now - f.gz_failed_since < 10 * self.rotate_linger:
                # Probably still being written (logrotate compresses it after rotating): try
                # again until it has not changed for a while.
                f.gz_retry_at = now + self.rotate_linger
                return False
            log.warning(
                "compressed file is damaged, keeping the lines before offset=%d path=%s error=%s",
                f.splitter.position,
                f.path,
                exc,
            )
            f.at_eof = True
            return False
        if not data:
            f.at_eof = True
            return False
        self.stats.bytes_read += len(data)
        f.ready = f.splitter.feed(data)
        return True

    async def _restart_replaced(self, f: _Follower) -> AsyncIterator[LineBatch]:
        """Ends the stream of a file truncated or rewritten in place and starts a new one at 0.

        An unterminated line read before the truncation is not emitted: like the bytes not read
        yet, its rest is only in the rotated copy, which continues the old stream from the
        start of that line if it is watched.
        """
        if f.builder:
            yield self._take(f)
        if f.stream is not None:
            f.stream.active = False
            log.info(
                "file truncated, reading it from the start path=%s old_file_id=%s "
                "offset=%d unterminated_bytes=%d",
                f.path,
                f.stream.file_id,
                f.stream.position,
                f.splitter.position - f.splitter.line_start,
            )
        self.stats.truncations += 1
        if f.stream is not None:
            self._truncated.append((f.path, f.stream))
        f.stream = None
        f.splitter = LineSplitter(0, self.max_line_bytes)
        f.ready = EMPTY_SPLIT
        f.size = 0

    async def _drain_final(self, f: _Follower) -> AsyncIterator[LineBatch]:
        """Emits the waiting unterminated line of a stream that will get no more bytes."""
        if f.stream is None:
            return
        f.ready = f.splitter.finish()
        while f.ready.remaining:
            if f.builder.fill(f.ready):
                yield self._take(f)
        if f.builder:
            yield self._take(f)

    def _is_finished(self, f: _Follower, now: float) -> bool:
        if f.gz is not None or f.settled:
            return f.at_eof and not f.ready.remaining
        return (
            f.retired_at is not None
            and f.at_eof
            and not f.ready.remaining
            and now - f.idle_since >= self.rotate_linger
        )

    async def _finish(self, f: _Follower) -> AsyncIterator[LineBatch]:
        if f.gz is None:
            # Last look: the writer may have added bytes since the previous poll.
            async for batch in self._pump(f, final=True):
                yield batch
        async for batch in self._drain_final(f):
            yield batch
        if f.gz is not None:
            st = os.fstat(f.fd)
            self._finished.add((*f.key, st.st_size, st.st_mtime_ns))
        self._close(f)

    def _take(self, f: _Follower) -> LineBatch:
        assert f.stream is not None
        batch = f.builder.take(self.source, f.stream.file_id)
        f.stream.position = batch.end_offset
        self.stats.batches += 1
        self.stats.lines += len(batch.lines)
        self.stats.oversized_lines += len(batch.oversized)
        return batch

    def _close(self, f: _Follower) -> None:
        if f.done:
            return
        f.done = True
        if f.stream is not None:
            f.stream.active = False
        if f.gz is not None:
            f.gz.close_stream()
        with contextlib.suppress(OSError):
            os.close(f.fd)
        self._followers.pop(f.key, None)
        self.stats.files_closed += 1
        log.info("closed path=%s file_id=%s", f.path, _id_of(f))


def _id_of(f: _Follower) -> str:
    return f.stream.file_id if f.stream is not None else "-"


def _stream_of(generation: Generation) -> _Stream | None:
    stream = generation.stream
    assert stream is None or isinstance(stream, _Stream)
    return stream


def _has_unread(probe: _Probe, stream: _Stream) -> bool:
    """Whether the file of `probe` holds bytes of `stream` past what was handed out."""
    if not probe.compressed:
        return stream.position < probe.size
    # gzip's trailer holds the uncompressed size modulo 2**32: a stream read to the end of
    # its .gz needs no decompression to know it (a mismatch only costs reading it again).
    try:
        trailer = os.pread(probe.fd, 4, max(0, probe.size - 4))
    except OSError:
        return True
    return len(trailer) < 4 or int.from_bytes(trailer, "little") != stream.position % (1 << 32)


def _read_plain_step(
    fd: int, position: int, want: int, check: FileIdentity | None, head_bytes: int
) -> _Read:
    """One blocking look at a plain file: its size, optionally its head, and the next chunk.

    With `check`, a chunk is only returned if the file still starts with the stream's
    fingerprinted bytes after it was read: a truncate-and-rewrite that raced the read (or
    happened between two polls and grew past the position) makes it a replaced file instead of
    mixing two generations of content in one stream.
    """
    size = os.fstat(fd).st_size
    if size < position:
        return _Read(size, replaced=True)
    head = os.pread(fd, head_bytes, 0) if head_bytes else b""
    data = os.pread(fd, min(want, size - position), position) if want and size > position else b""
    if data and check is not None and not check.verifies(os.pread(fd, check.span, 0)):
        return _Read(size, replaced=True)
    return _Read(size, data, head)


def _gzip_head(fd: int, limit: int) -> tuple[bytes, bool]:
    """The first `limit` decompressed bytes, and whether the stream ended properly before."""
    with os.fdopen(os.dup(fd), "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        raw.seek(0)
        head = b""
        while len(head) < limit:
            try:
                part = gz.read1(limit - len(head))
            except EOFError:
                return head, False
            if not part:
                return head, True
            head += part
        return head, True


def _read_head(path: str, limit: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(limit)


def _is_copy(
    probe: _Probe, stream: _Stream | None, live: InodeKey | None, copytruncated: bool
) -> bool:
    """Whether the rotated file of `probe` is a copytruncate copy: a plain file of another
    inode than the live file, holding a stream whose own inode is the live file's, or one no
    checkpoint knows when the live file is known to be rotated by copytruncate. (A compressed
    one cannot be told from the rotation of a file whose inode the live file got by reuse.)"""
    if probe.compressed or live is None or probe.key == live:
        return False
    if stream is None:
        return copytruncated
    return stream.identity.inode_key == live


def _plain_heads(path: str, live: InodeKey, limit: int) -> list[bytes]:
    """The first bytes of each uncompressed rotated generation of `path` that is not `live`,
    oldest first."""
    heads = []
    for rotated in rotated_siblings(path):
        if rotated.compressed:
            continue
        try:
            st = os.stat(rotated.path)
            if (st.st_dev, st.st_ino) == live:
                continue
            head = _read_head(rotated.path, limit)
        except OSError:
            continue
        if not head.startswith(GZIP_MAGIC):
            heads.append(head)
    return heads


def _last_line_end(fd: int, size: int) -> int:
    """Offset just after the last newline in the final 64 KiB of a file (its size if none)."""
    window = min(size, 1 << 16)
    tail = os.pread(fd, window, size - window)
    last_nl = tail.rfind(b"\n")
    return size if last_nl < 0 else size - window + last_nl + 1
