"""The cluster's line streams in Redis: key names, the partition of a client, and the entries.

A cluster has P partitions, fixed when it is created and kept in Redis (`{prefix}:cluster`);
partition p is the stream `{prefix}:lines:{p}`, read by the consumer group `workers`. Lines of
one client always go to one partition (the CRC-32 of its address, modulo P), so one worker sees
all of a client's requests, whichever web server wrote them.

An entry written by `vigil agent` (or by `POST /ingest/batch` on a cluster API node) carries the
lines of one source file that fall in one partition, with their byte offsets in that file:

    s  source (the agent's name)       f  file identity          st  site (optional)
    o  offsets, little-endian int64    e  end offset of the last line
    l  the lines, joined by "\\n"       x  indexes of oversized lines (optional)

Any other shipper may `XADD` one line per entry in a field `line` (optional `source`, `site`);
its position in the stream is then its offset. A line's origin is (source, file identity with
the partition, offset), so its event key is the same on every replay of the entry.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vigil.batch import LineBatch
from vigil.errors import ConfigError

__all__ = [
    "GROUP",
    "ChunkEntry",
    "StreamKeys",
    "decode_entries",
    "encode_chunk",
    "ensure_partitions",
    "id_ms",
    "id_tuple",
    "partition_of",
]

GROUP = "workers"
"""The consumer group every worker reads with."""

SHIPPER_EPOCH_MS = 1_700_000_000_000
"""Stream positions of shipper lines count from here (2023-11-14), so they fit in 63 bits."""


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """Every Redis key of one cluster, under its prefix."""

    prefix: str

    @property
    def cluster(self) -> str:
        return f"{self.prefix}:cluster"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def agents(self) -> str:
        return f"{self.prefix}:agents"

    @property
    def controls(self) -> str:
        """A counter raised whenever stored allowlists or exclusions change (workers re-read)."""
        return f"{self.prefix}:controls"

    def lines(self, partition: int) -> str:
        return f"{self.prefix}:lines:{partition}"

    def lease(self, partition: int) -> str:
        return f"{self.prefix}:lease:{partition}"

    def snapshot(self, partition: int) -> str:
        return f"{self.prefix}:snapshot:{partition}"

    def agent_checkpoints(self, agent: str) -> str:
        return f"{self.prefix}:agent:{agent}:checkpoints"


def partition_of(client: bytes, partitions: int) -> int:
    """The partition of a client address (stable across processes and hosts)."""
    return zlib.crc32(client) % partitions


def id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id `ms-seq` as a pair of numbers (ordered as Redis orders ids)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def id_ms(entry_id: bytes | str) -> int:
    return id_tuple(entry_id)[0]


async def ensure_partitions(redis: object, keys: StreamKeys, wanted: int) -> int:
    """The cluster's partition count: the stored one, or `wanted` when the cluster is new.

    Each partition's stream and its consumer group are created as well (idempotently), so a
    worker that starts before any agent has something to read.
    """
    from redis.exceptions import ResponseError

    client: object = redis
    await client.hsetnx(keys.cluster, "partitions", wanted)  # type: ignore[attr-defined]
    stored = await client.hget(keys.cluster, "partitions")  # type: ignore[attr-defined]
    try:
        partitions = int(stored)
    except (TypeError, ValueError):
        raise ConfigError(f"Redis key {keys.cluster} holds no partition count") from None
    if partitions < 1:
        raise ConfigError(f"Redis key {keys.cluster} holds a bad partition count {stored!r}")
    for partition in range(partitions):
        try:
            await client.xgroup_create(  # type: ignore[attr-defined]
                keys.lines(partition), GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
    return partitions


def encode_chunk(
    source: str,
    file_id: str,
    site: str | None,
    lines: list[bytes],
    offsets: list[int],
    end_offset: int,
    oversized: Iterable[int] = (),
) -> dict[str, bytes | str]:
    """The fields of one entry holding `lines` of one file (see the module docstring)."""
    fields: dict[str, bytes | str] = {
        "s": source,
        "f": file_id,
        "o": array("q", offsets).tobytes(),
        "e": str(end_offset),
        "l": b"\n".join(lines),
    }
    if site:
        fields["st"] = site
    marks = ",".join(str(i) for i in oversized)
    if marks:
        fields["x"] = marks
    return fields


@dataclass(slots=True)
class ChunkEntry:
    """Consecutive entries of a partition made into one batch, with the ids they came from."""

    batch: LineBatch
    site: str | None
    ids: list[bytes]


def _text(fields: Mapping[bytes, bytes], name: bytes, default: str = "") -> str:
    value = fields.get(name)
    return value.decode("utf-8", "replace") if value is not None else default


def decode_entries(
    partition: int, entries: Iterable[tuple[bytes, Mapping[bytes, bytes]]]
) -> list[ChunkEntry]:
    """Batches for the pipeline from stream entries, in stream order.

    An agent's entry is one batch; consecutive shipper lines of one source and site share one.
    An entry that is neither (no `l` and no `line`) becomes one line holding what it had, which
    the parser turns into a dead letter: nothing read from a stream disappears unseen.
    """
    out: list[ChunkEntry] = []
    shipper: ChunkEntry | None = None
    suffix = f"#p{partition}"
    for entry_id, fields in entries:
        if b"l" in fields and b"o" in fields:
            shipper = None
            offsets = array("q")
            offsets.frombytes(fields[b"o"])
            lines = fields[b"l"].split(b"\n")
            if len(lines) != len(offsets):
                lines, offsets = [fields[b"l"]], array("q", [offsets[0] if offsets else 0])
            marks = _text(fields, b"x")
            oversized = frozenset(int(i) for i in marks.split(",") if i.isdigit())
            try:
                end = int(fields.get(b"e", b"0"))
            except ValueError:
                end = offsets[-1] + 1
            out.append(
                ChunkEntry(
                    LineBatch(
                        source=_text(fields, b"s", "agent"),
                        file_id=_text(fields, b"f", "unknown") + suffix,
                        lines=lines,
                        offsets=list(offsets),
                        end_offset=max(end, offsets[-1] + 1),
                        oversized=oversized,
                    ),
                    _text(fields, b"st") or None,
                    [entry_id],
                )
            )
            continue
        line = fields.get(b"line")
        if line is None:
            line = b" ".join(k + b"=" + v for k, v in fields.items())
        ms, seq = id_tuple(entry_id)
        position = ((ms - SHIPPER_EPOCH_MS) << 23) | min(seq, (1 << 23) - 1)
        source = "xadd:" + _text(fields, b"source", "shipper")
        site = _text(fields, b"site") or None
        if (
            shipper is None
            or shipper.batch.source != source
            or shipper.site != site
            or len(shipper.batch.lines) >= 2048
        ):
            shipper = ChunkEntry(LineBatch(source, f"stream{suffix}", [], [], 0), site, [])
            out.append(shipper)
        shipper.batch.lines.append(line.rstrip(b"\n"))
        shipper.batch.offsets.append(position)
        shipper.batch.end_offset = position + 1
        shipper.ids.append(entry_id)
    return out


def merge_by_origin(chunks: list[ChunkEntry]) -> list[ChunkEntry]:
    """The chunks of one read with those of one origin (source, file, site) made into one batch,
    in the order each origin first appears: a file's lines stay in order, and a worker that has
    fallen behind analyses and stores few large batches instead of many small ones."""
    merged: dict[tuple[str, str, str | None], ChunkEntry] = {}
    for chunk in chunks:
        batch = chunk.batch
        key = (batch.source, batch.file_id, chunk.site)
        into = merged.get(key)
        if into is None:
            merged[key] = ChunkEntry(
                LineBatch(
                    batch.source,
                    batch.file_id,
                    list(batch.lines),
                    list(batch.offsets),
                    batch.end_offset,
                    batch.oversized,
                ),
                chunk.site,
                list(chunk.ids),
            )
            continue
        target = into.batch
        shift = len(target.lines)
        if batch.oversized:
            target.oversized = target.oversized | frozenset(i + shift for i in batch.oversized)
        target.lines.extend(batch.lines)
        target.offsets.extend(batch.offsets)
        target.end_offset = batch.end_offset
        into.ids.extend(chunk.ids)
    return list(merged.values())
