"""Undo the escaping web servers apply to logged values, giving back the bytes the client sent.

nginx writes `"`, `\\`, control characters and bytes >= 0x7F as `\\xHH`; with `escape=json` it
writes JSON escapes (`\\"`, `\\\\`, `\\n`, `\\u00HH`). Apache writes `\\"`, `\\\\`, `\\n`, `\\t`
and friends, and `\\xhh` for other unprintable bytes. One decoder handles all three because each
server escapes its own backslashes, so an escape sequence is never ambiguous.

The recovered bytes are decoded as UTF-8 with `errors="replace"`: invalid sequences become
U+FFFD. Detection works on text, and text without lone surrogates can be stored, serialized to
JSON and sent to subscribers without further care; the original bytes of a line that matters
stay available in its `raw` text up to the replaced characters.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)", re.DOTALL)

_SINGLE: dict[bytes, bytes] = {
    b'"': b'"',
    b"\\": b"\\",
    b"/": b"/",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"v": b"\v",
    b"f": b"\f",
    b"b": b"\b",
    b"a": b"\a",
}

_REPLACEMENT = "\ufffd".encode()


def _replace(match: re.Match[bytes]) -> bytes:
    body = match.group(1)
    head = body[:1]
    if head == b"x" and len(body) == 3:
        return bytes((int(body[1:], 16),))
    if head == b"u" and len(body) == 5:
        code = int(body[1:], 16)
        # JSON escapes of lone surrogates cannot become UTF-8; keep the text storable.
        if 0xD800 <= code <= 0xDFFF:
            return _REPLACEMENT
        return chr(code).encode()
    single = _SINGLE.get(body)
    if single is not None:
        return single
    return match.group(0)


def unescape(value: str) -> str:
    """The value with server escapes decoded; unchanged when it holds no backslash."""
    if "\\" not in value:
        return value
    data = _ESCAPE.sub(_replace, value.encode("utf-8", "surrogatepass"))
    return data.decode("utf-8", "replace")
