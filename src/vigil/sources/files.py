"""One-shot readers for `vigil scan`: a plain file, a gzip file or stdin, read once as LineBatches.

- gzip is recognised by its magic bytes, whatever the name (a `.gz` that is plain text is read
  as plain text, a compressed file without `.gz` is decompressed); stdin may be gzip too.
- `file_id`: a regular file (compressed or not) gets the identity the tailer gives it,
  `device:inode:span:digest` of its decompressed first bytes (see `vigil.sources.identity`),
  so scanning a file and later tailing it store each line once. stdin gets
  `stdin:span:digest` of its first bytes: piping the same content twice gives the same id and a
  repeated scan stores nothing twice; offsets are positions in the decompressed stream.
- the input is complete, so an unterminated last line is emitted at EOF; long lines are cut and
  flagged as in the tailer (`LineBatch.oversized`).
- progress: `total_bytes` is the size of the input as stored (compressed size for gzip, None for
  a pipe) and `bytes_read` the bytes of it consumed so far; `batch.end_offset` is the position
  in the decompressed stream.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from vigil.batch import LineBatch
from vigil.errors import InputError
from vigil.sources.identity import FINGERPRINT_BYTES, GZIP_MAGIC, FileIdentity, stream_id
from vigil.sources.linesplit import BatchBuilder, LineSplitter, SplitLines

if TYPE_CHECKING:
    from vigil.config import FileSourceSection

STDIN = "-"


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _CountingInput:
    """A binary input read through once, counting the bytes consumed, with bytes pushed back."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.consumed = 0
        self._pushed = b""

    def read(self, size: int = -1, /) -> bytes:
        if self._pushed:
            take = self._pushed if size < 0 else self._pushed[:size]
            self._pushed = self._pushed[len(take) :]
            return take
        data = self.raw.read(size)
        self.consumed += len(data)
        return data

    def seek(self, offset: int, /) -> int:
        raise io.UnsupportedOperation("the input is read once, front to back")

    def peek_start(self, count: int) -> bytes:
        """The first `count` bytes (fewer at EOF), left in place for the next read."""
        data = b""
        while len(data) < count:
            part = self.raw.read(count - len(data))
            if not part:
                break
            data += part
        self.consumed += len(data)
        self._pushed = data + self._pushed
        return data


class _StepReader:
    """A gzip stream read one decompression step at a time (`read1`), so a cut-short stream
    gives its readable start before raising EOFError."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self.gz = gz

    def read(self, size: int = -1, /) -> bytes:
        return self.gz.read1(size)

    def close(self) -> None:
        self.gz.close()


class LineReader:
    """Reads one input (path, or `-` for stdin) once from start to end as LineBatches."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: str = "scan",
        batch_size: int = 2048,
        batch_max_bytes: int = 8 << 20,
        read_chunk_bytes: int = 1 << 20,
        max_line_bytes: int = 1 << 20,
        fingerprint_bytes: int = FINGERPRINT_BYTES,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.source = source
        self.read_chunk_bytes = read_chunk_bytes
        self.fingerprint_bytes = fingerprint_bytes
        self.compressed = False
        self.total_bytes: int | None = None
        self.file_id = ""
        self._stdin = stdin
        self._input: _CountingInput | None = None
        self._owned: BinaryIO | None = None
        self._decoded: _Readable | None = None
        self._pending_error: EOFError | None = None
        self._device_inode: tuple[int, int] | None = None
        self._splitter = LineSplitter(0, max_line_bytes)
        self._builder = BatchBuilder(batch_size, batch_max_bytes)
        self._started = False
        self._eof = False
        self._closed = False

    @classmethod
    def from_section(
        cls, section: FileSourceSection, path: str | os.PathLike[str], *, source: str = "scan"
    ) -> LineReader:
        """A reader of `path` sized by the file-source section."""
        return cls(
            path,
            source=source,
            batch_size=section.batch_size,
            read_chunk_bytes=section.read_chunk_bytes,
            max_line_bytes=section.max_line_bytes,
        )

    @property
    def is_stdin(self) -> bool:
        return self.path == STDIN

    @property
    def bytes_read(self) -> int:
        """Bytes of the input as stored (compressed for gzip) consumed so far."""
        return self._input.consumed if self._input is not None else 0

    def __enter__(self) -> LineReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Releases the input (stdin itself is left open)."""
        if self._closed:
            return
        self._closed = True
        if isinstance(self._decoded, _StepReader):
            self._decoded.close()
        if self._owned is not None:
            self._owned.close()

    def __iter__(self) -> Iterator[LineBatch]:
        try:
            split = self._start()
            while True:
                yield from self._pack(split)
                if self._eof:
                    break
                split = self._advance()
            if self._builder:
                yield self._builder.take(self.source, self.file_id)
        finally:
            self.close()

    async def __aiter__(self) -> AsyncIterator[LineBatch]:
        """The same batches, with every blocking read done in a worker thread."""
        try:
            split = await asyncio.to_thread(self._start)
            while True:
                for batch in self._pack(split):
                    yield batch
                if self._eof:
                    break
                split = await asyncio.to_thread(self._advance)
            if self._builder:
                yield self._builder.take(self.source, self.file_id)
        finally:
            self.close()

    def _pack(self, split: SplitLines) -> Iterator[LineBatch]:
        while split.remaining:
            if self._builder.fill(split):
                yield self._builder.take(self.source, self.file_id)

    def _start(self) -> SplitLines:
        """Opens the input, recognises gzip, names the stream and cuts its first chunk."""
        if self._started:
            raise RuntimeError("a LineReader reads its input once")
        self._started = True
        raw = self._open_raw()
        self._input = _CountingInput(raw)
        try:
            self.compressed = self._input.peek_start(len(GZIP_MAGIC)) == GZIP_MAGIC
            self._decoded = (
                _StepReader(gzip.GzipFile(fileobj=self._input, mode="rb"))
                if self.compressed
                else self._input
            )
            first = self._read_decoded(max(self.read_chunk_bytes, self.fingerprint_bytes))
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read {self._label()}: {exc}") from exc
        head = first[: self.fingerprint_bytes]
        if self._device_inode is not None:
            identity = FileIdentity.of(
                *self._device_inode, head, self.fingerprint_bytes, complete=True
            )
            self.file_id = (
                identity.file_id
                if identity is not None
                else stream_id("empty", head, self.fingerprint_bytes)
            )
        else:
            self.file_id = stream_id("stdin", head, self.fingerprint_bytes)
        return self._cut(first)

    def _advance(self) -> SplitLines:
        try:
            data = self._read_decoded(self.read_chunk_bytes)
        except (OSError, EOFError) as exc:
            raise InputError(
                f"cannot read {self._label()} past offset {self._splitter.position}: {exc}"
            ) from exc
        return self._cut(data)

    def _cut(self, data: bytes) -> SplitLines:
        if data:
            return self._splitter.feed(data)
        self._eof = True
        return self._splitter.finish()

    def _read_decoded(self, size: int) -> bytes:
        assert self._decoded is not None
        if self._pending_error is not None:
            raise self._pending_error
        parts: list[bytes] = []
        got = 0
        # Pipes and gzip return short reads; fill the chunk unless the input ended. A damaged
        # gzip raises only after the readable bytes before the damage were handed out.
        while got < size:
            try:
                part = self._decoded.read(size - got)
            except EOFError as exc:
                if not parts:
                    raise
                self._pending_error = exc
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _open_raw(self) -> BinaryIO:
        if self.is_stdin:
            raw = self._stdin if self._stdin is not None else sys.stdin.buffer
            self._note_size(raw)
            return raw
        try:
            handle = Path(self.path).open("rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise InputError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        self._owned = handle
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            return handle
        self.total_bytes = st.st_size
        self._device_inode = (st.st_dev, st.st_ino)
        return handle

    def _note_size(self, raw: BinaryIO) -> None:
        try:
            st = os.fstat(raw.fileno())
        except (OSError, ValueError, AttributeError):
            return
        if stat.S_ISREG(st.st_mode):
            self.total_bytes = st.st_size

    def _label(self) -> str:
        return "standard input" if self.is_stdin else self.path


def read_batches(
    path: str | os.PathLike[str], *, source: str = "scan", batch_size: int = 2048, **options: Any
) -> Iterator[LineBatch]:
    """Every line of `path` (or `-` for stdin) as LineBatches, read in this thread."""
    yield from LineReader(path, source=source, batch_size=batch_size, **options)


async def aread_batches(
    path: str | os.PathLike[str], *, source: str = "scan", batch_size: int = 2048, **options: Any
) -> AsyncIterator[LineBatch]:
    """Every line of `path` (or `-` for stdin) as LineBatches, reading in a worker thread."""
    async for batch in LineReader(path, source=source, batch_size=batch_size, **options):
        yield batch


class FilesSource:
    """Files (plain or .gz) and stdin (`-`), read one after another from start to end: the
    source of `vigil scan`.

    Regular files are read in the event loop's thread: a read from the page cache is shorter
    than a hand-over to a worker thread while the analysis keeps the interpreter busy. Standard
    input may block, so it is read in a worker thread. `on_progress(source, bytes_read)` is
    called after each batch.
    """

    def __init__(
        self,
        paths: Sequence[str],
        section: FileSourceSection,
        *,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.section = section
        self.on_progress = on_progress

    async def batches(self) -> AsyncIterator[LineBatch]:
        for path in self.paths:
            source = "stdin" if path == "-" else str(Path(path).resolve())
            reader = LineReader.from_section(self.section, path, source=source)
            if path == "-":
                async for batch in reader:
                    self._progress(batch, reader)
                    yield batch
                continue
            with reader:
                for batch in reader:
                    self._progress(batch, reader)
                    yield batch

    def _progress(self, batch: LineBatch, reader: LineReader) -> None:
        if self.on_progress is not None:
            self.on_progress(batch.source, reader.bytes_read)
