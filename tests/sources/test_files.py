"""One-shot readers: plain, gzip (by magic bytes) and stdin inputs become exact LineBatches."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from vigil.batch import LineBatch
from vigil.errors import InputError
from vigil.sources.files import LineReader, aread_batches, read_batches
from vigil.sources.identity import FileIdentity

CONTENT = b"".join(
    b'10.0.0.%d - - [x] "GET /p%d HTTP/1.1" 200 5\n' % (i % 250, i) for i in range(1000)
)


def flatten(batches: list[LineBatch]) -> list[tuple[int, bytes]]:
    return [(off, line) for b in batches for off, line in zip(b.offsets, b.lines, strict=True)]


def check_offsets(batches: list[LineBatch], data: bytes) -> None:
    """Every line is where its offset says, and each batch ends where the next one starts."""
    previous_end = 0
    for batch in batches:
        assert batch.offsets[0] == previous_end
        for off, line in zip(batch.offsets, batch.lines, strict=True):
            assert off == 0 or data[off - 1 : off] == b"\n"
            if not batch.oversized:
                assert data[off : off + len(line)] == line
        previous_end = batch.end_offset
    assert previous_end == len(data)


def test_plain_file_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(CONTENT)
    batches = list(read_batches(path, batch_size=64, read_chunk_bytes=4096))
    assert [line for _, line in flatten(batches)] == CONTENT.split(b"\n")[:-1]
    assert all(len(b) <= 64 for b in batches)
    assert len({b.file_id for b in batches}) == 1
    assert FileIdentity.parse(batches[0].file_id) is not None
    check_offsets(batches, CONTENT)


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    packed = tmp_path / "access.log.1"  # no .gz suffix
    packed.write_bytes(gzip.compress(CONTENT))
    fake = tmp_path / "plain.gz"  # .gz suffix, plain text
    fake.write_bytes(CONTENT)
    for path in (packed, fake):
        reader = LineReader(path, batch_size=100)
        batches = list(reader)
        assert b"\n".join(line for _, line in flatten(batches)) + b"\n" == CONTENT
        check_offsets(batches, CONTENT)
        assert reader.compressed is (path == packed)
        assert reader.total_bytes == path.stat().st_size
        assert reader.bytes_read == path.stat().st_size


def test_multi_member_gzip(tmp_path: Path) -> None:
    path = tmp_path / "joined.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\nd"))
    assert [line for _, line in flatten(list(read_batches(path)))] == [b"a", b"b", b"c", b"d"]


def test_stdin_plain_and_gzip_same_id_for_same_content() -> None:
    plain = LineReader("-", stdin=io.BytesIO(CONTENT), batch_size=500)
    packed = LineReader("-", stdin=io.BytesIO(gzip.compress(CONTENT)), batch_size=500)
    a, b = list(plain), list(packed)
    assert flatten(a) == flatten(b)
    assert a[0].file_id == b[0].file_id
    assert a[0].file_id.startswith("stdin:")
    assert plain.total_bytes is None
    other = list(LineReader("-", stdin=io.BytesIO(b"different\n" + CONTENT)))
    assert other[0].file_id != a[0].file_id


def test_final_line_without_newline_is_emitted_at_eof(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"one\ntwo\nthree")
    batches = list(read_batches(path))
    assert flatten(batches) == [(0, b"one"), (4, b"two"), (8, b"three")]
    assert batches[-1].end_offset == 13


def test_empty_input_gives_no_batches(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert list(read_batches(path)) == []
    assert list(read_batches("-", stdin=io.BytesIO(b""))) == []


def test_long_line_is_cut_and_flagged_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    long_line = b"A" * (1 << 20) + b"B" * 5000
    data = b"before\n" + long_line + b"\nafter\n"
    path.write_bytes(data)
    batches = list(read_batches(path, max_line_bytes=1 << 20, read_chunk_bytes=64 * 1024))
    lines = flatten(batches)
    assert [off for off, _ in lines] == [0, 7, 7 + len(long_line) + 1]
    assert lines[1][1] == b"A" * (1 << 20)
    assert lines[2][1] == b"after"
    flagged = [(b.offsets[i]) for b in batches for i in b.oversized]
    assert flagged == [7]


def test_raw_bytes_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    data = b"nul\x00inside\n\xff\xfe invalid utf-8\ncrlf\r\n"
    path.write_bytes(data)
    lines = [line for _, line in flatten(list(read_batches(path)))]
    assert lines == [b"nul\x00inside", b"\xff\xfe invalid utf-8", b"crlf\r"]


def test_same_file_same_id_as_tailer_identity(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(CONTENT)
    st = path.stat()
    expected = FileIdentity.of(st.st_dev, st.st_ino, CONTENT[:256], 256)
    assert expected is not None
    assert next(iter(read_batches(path))).file_id == expected.file_id


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        list(read_batches(tmp_path / "nope.log"))


def test_truncated_gzip_is_an_input_error_after_good_lines(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(CONTENT * 20)[:-200])
    seen: list[LineBatch] = []
    with pytest.raises(InputError, match="past offset"):
        for batch in read_batches(path, batch_size=100, read_chunk_bytes=4096):
            seen.append(batch)
    assert seen  # lines before the damage were delivered


async def test_async_reader_matches_sync(tmp_path: Path) -> None:
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress(CONTENT))
    sync = list(read_batches(path, batch_size=77, read_chunk_bytes=4096))
    got = [b async for b in aread_batches(path, batch_size=77, read_chunk_bytes=4096)]
    assert [(b.file_id, b.lines, b.offsets, b.end_offset) for b in got] == [
        (b.file_id, b.lines, b.offsets, b.end_offset) for b in sync
    ]
