"""Decoding of evasions back to the plain attack, and the signals decoding leaves behind."""

from __future__ import annotations

import pytest

from vigil.detect import normalize
from vigil.detect.engine import views_of

# (raw argument value, text expected in the view, view, signals that must be reported)
EVASIONS = [
    ("%3Cscript%3E", "<script>", "decoded", set()),
    ("%253Cscript%253E", "<script>", "decoded", {"double-encoding"}),
    ("%25253Cscript%25253E", "<script>", "decoded", {"double-encoding"}),
    ("%3CScRiPt%3E", "<script>", "decoded", set()),
    ("1%20UN%2F**%2FION%20SEL%2F**%2FECT%201", "1 union select 1", "nocomments", set()),
    ("1/*!50000UNION*/SELECT", "1unionselect", "nocomments", set()),
    ("%u003cscript%u003e", "<script>", "decoded", {"unicode-encoding"}),
    ("%U0027%u0020or%u00201=1", "' or 1=1", "decoded", {"unicode-encoding"}),
    ("..%c0%af..%c0%afetc%c0%afpasswd", "../../etc/passwd", "decoded", {"overlong-utf8"}),
    ("%e0%80%af", "/", "decoded", {"overlong-utf8"}),
    ("file.php%00.jpg", "file.php.jpg", "decoded", {"nul-byte"}),
    ("%26lt%3Bscript%26gt%3B", "<script>", "decoded", set()),
    ("%26%2360%3Bimg%26%23x3e%3B", "<img>", "decoded", set()),
    ("select%09%0b%0c%a0from", "select from", "decoded", set()),
    ("union+all+select", "union all select", "decoded", set()),
    ("c%5Ea%5Et+%2Fetc%2Fpasswd", "cat /etc/passwd", "cmdline", set()),
    ("c'a't${IFS}/etc/passwd", "cat /etc/passwd", "cmdline", set()),
    ("100%zz", "100%zz", "decoded", {"invalid-encoding"}),
    ("a%0d%0aSet-Cookie:x", "a\nset-cookie:x", "decoded", {"line-break"}),
]


@pytest.mark.parametrize(
    ("raw", "plain", "view", "signals"), EVASIONS, ids=[e[0] for e in EVASIONS]
)
def test_evasion_decodes_to_the_plain_attack(
    raw: str, plain: str, view: str, signals: set[str]
) -> None:
    views, found = normalize.build_views(raw, "args")
    assert views[view] == plain
    assert found == signals


def test_decoding_stops_after_the_round_limit() -> None:
    layered = "%" + "25" * 10 + "41"
    text, signals = normalize.decode(layered)
    assert text != "A"
    assert "double-encoding" in signals


def test_plain_values_need_no_decoding() -> None:
    for value in ("index", "page-2", "a.b_c", "2024-03-01", "user@example.org"):
        assert not normalize.needs_decoding(value)
        assert normalize.decode(value) == (value, frozenset())


def test_paths_keep_plus_and_resolve_dot_segments_with_a_signal() -> None:
    views, signals = normalize.build_views("/static/..%2f..%2f.%2fetc//passwd+x", "path")
    assert views["path"] == "/etc/passwd+x"
    assert views["decoded"] == "/static/../.././etc//passwd+x"
    assert "path-traversal" in signals


def test_backslashes_are_path_separators() -> None:
    assert normalize.normalize_path("\\windows\\..\\boot.ini") == ("/boot.ini", True)


def test_path_without_dot_segments_has_no_traversal_signal() -> None:
    assert normalize.normalize_path("/a//b/./c/") == ("/a/b/c/", False)


def test_query_splitting_keeps_repeats_empty_values_and_semicolons() -> None:
    assert normalize.split_query("a=1&a=2;flag&b=&&c=x=y") == [
        ("a", "1"), ("a", "2"), ("flag", ""), ("b", ""), ("c", "x=y"),
    ]  # fmt: skip


def test_argument_names_are_decoded() -> None:
    assert normalize.decode_name("user%5Bname%5D") == "user[name]"


def test_identical_views_are_scanned_once() -> None:
    groups, signals = views_of("plain-value", "args")
    assert len(groups) == 1
    assert signals == frozenset()
    groups, _ = views_of("1%20UN/**/ION", "args")
    assert {text for text, _ in groups} >= {"1 un/**/ion", "1 union"}


@pytest.mark.parametrize(
    ("value", "nested"),
    [
        # A return address whose own query values were encoded before the address was.
        ("%2Faccount%3Fq%3Dred%2520shoes%26page%3D2", True),
        ("https%3A%2F%2Fshop.example.com%2Fcart%3Fref%3Dmail%2526app", True),
        # An ordinary address encoded twice as a whole, its query values one layer deeper.
        ("%252F", True),
        ("https%253A%252F%252Fshop.example.com%252F", True),
        ("%252Fcart%253Fq%253Dred%252Bshoes%2526page%253D2", True),
        ("https%253A%252F%252Fshop.example.com%252Fa%253Fq%253Dx%25253Dy%252526z", True),
        # A path spelling non-ASCII characters in escapes, as every address does.
        ("%252Fcategory%252F%2525E6%252596%2525B0%2525E3%252581%252597", True),
        ("%252Fcategory%252F%25252e%25252e%252Fadmin", False),
        ("%252Fa%2525C0%2525AE%2525C0%2525AE%252Fetc", False),
        # Two layers over a whole value, the address's path, or three layers: still evasions.
        ("keyboard%2520tent", False),
        ("%2Fx%252e%252e%3Fa%3D1", False),
        ("%2Fx%3Fq%3D%25253Cscript%25253E", False),
        ("%25252F", False),
        ("%253Cscript%253E", False),
        ("%252e%252e%252fetc%252fpasswd", False),
        # What no same-site check lets through stays evidence: another host, a script URL.
        ("%252F%252Fevil.example", False),
        ("%252F%255Cevil.example", False),
        ("javascript%253Aalert%25281%2529", False),
        ("https%253A%252F%252Fshop.example.com%252F%253Cscript%253E", False),
        ("&#37;41", False),
    ],
)
def test_an_address_nesting_its_own_encoded_query_is_no_double_encoding(
    value: str, nested: bool
) -> None:
    _, signals = normalize.decode(value, form=True)
    assert ("double-encoding" not in signals) is nested


def test_a_return_address_reads_the_plus_signs_of_its_own_query_as_blanks() -> None:
    text, _ = normalize.decode("%2Fhelp%3Fq%3Dwindow.location%2Bvs%2Bhref", form=True)
    assert text == "/help?q=window.location vs href"
    # A plus the address meant is encoded once more; a plus outside an address stays.
    assert normalize.decode("%2Fx%3Fq%3D1%252B1", form=True)[0] == "/x?q=1+1"
    assert normalize.decode("a%2Bb", form=True)[0] == "a+b"


def test_an_address_encoded_twice_reads_the_plus_signs_of_its_own_query_as_blanks() -> None:
    text, signals = normalize.decode(
        "https%253A%252F%252Fshop.example.com%252Fhelp%253Fq%253Ddocument.cookie%252Bvs%252Bhref",
        form=True,
    )
    assert text == "https://shop.example.com/help?q=document.cookie vs href"
    assert signals == frozenset()
    # A plus its query's value meant is encoded once more, and stays a plus.
    assert normalize.decode("%252Fx%253Fq%253D1%25252B1", form=True)[0] == "/x?q=1+1"
    # Outside an address, a plus decoded in the second round is a plus.
    assert normalize.decode("c%252B%252B", form=True)[0] == "c++"


def test_query_splitting_at_ampersands_only_keeps_semicolons_in_values() -> None:
    assert normalize.split_query("deviceName=A;id&b=1", semicolons=False) == [
        ("deviceName", "A;id"),
        ("b", "1"),
    ]
