"""Which log stream a file is, so a restart resumes the right file and a reused inode is noticed.

A file identity is `(device, inode, span, digest)`: the digest is a hash of the first `span`
bytes of the file's content. `file_id` writes all four down, so whoever reads a stored id later
knows exactly which bytes to hash to check that a file is still the same stream.

How `span` is chosen (`fingerprint_span`), for `limit` = `FINGERPRINT_BYTES` by default:

- the file has at least `limit` bytes: the first `limit` bytes;
- it is shorter: everything up to its last newline (only complete lines, which an appending
  writer never changes again);
- it is shorter and has no newline yet: no identity yet. Nothing can be emitted from such a file
  anyway (it has no complete line), so the tailer simply waits. A file that is known to be
  complete (a finished rotated file, a .gz, a one-shot read) uses all its bytes instead.

The id is fixed the first time a stream is seen. A restart does not recompute it: it looks the
stored ids up by device and inode and re-hashes the first `span` bytes of the file (`verifies`),
so a stream first seen with one short line keeps its id after it grows past `limit` bytes.
A file replaced in place (copytruncate, or a new file that got a freed inode number) hashes
differently and becomes a new stream read from offset 0. Known limit: two generations of one
inode whose first `span` bytes are byte-for-byte equal look like one stream; access logs start
with a timestamped line, so in practice they differ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FINGERPRINT_BYTES = 256
GZIP_MAGIC = b"\x1f\x8b"


def content_digest(data: bytes) -> str:
    """Short hex hash of fingerprinted content."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def fingerprint_span(head: bytes, limit: int, *, complete: bool = False) -> int | None:
    """How many leading bytes identify a stream whose first bytes are `head` (None: not yet).

    `head` is the first `min(size, limit)` bytes of the content; `complete` says no byte will
    ever be appended.
    """
    if len(head) >= limit:
        return limit
    last_nl = head.rfind(b"\n")
    if last_nl >= 0:
        return last_nl + 1
    if complete and head:
        return len(head)
    return None


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """A log stream: the file it lives in (device, inode) and a hash of its first bytes."""

    device: int
    inode: int
    span: int
    digest: str

    @property
    def file_id(self) -> str:
        """The stable string stored with checkpoints and used in event keys."""
        return f"{self.device:x}:{self.inode:x}:{self.span:x}:{self.digest}"

    @property
    def inode_key(self) -> tuple[int, int]:
        return (self.device, self.inode)

    def verifies(self, head: bytes) -> bool:
        """True when content starting with `head` is this stream."""
        return len(head) >= self.span and content_digest(head[: self.span]) == self.digest

    @classmethod
    def of(
        cls, device: int, inode: int, head: bytes, limit: int, *, complete: bool = False
    ) -> FileIdentity | None:
        """The identity of the file (device, inode) whose content starts with `head`."""
        span = fingerprint_span(head, limit, complete=complete)
        if span is None:
            return None
        return cls(device, inode, span, content_digest(head[:span]))

    @classmethod
    def parse(cls, file_id: str) -> FileIdentity | None:
        """The identity written in `file_id`, or None if it is not a file identity."""
        parts = file_id.split(":")
        if len(parts) != 4:
            return None
        try:
            device, inode, span = (int(p, 16) for p in parts[:3])
        except ValueError:
            return None
        digest = parts[3]
        if span <= 0 or len(digest) != 16:
            return None
        return cls(device, inode, span, digest)


def stream_id(label: str, head: bytes, limit: int) -> str:
    """Id of a stream without a stable file behind it (stdin): `label:span:digest` of its start.

    The same content piped twice gets the same id, so a repeated scan stores nothing twice.
    """
    span = fingerprint_span(head, limit, complete=True) or 0
    return f"{label}:{span:x}:{content_digest(head[:span])}"
