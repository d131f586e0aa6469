"""Any nginx `log_format` or Apache `LogFormat` compiles into a parser; JSON logs read through
a field mapping; `auto` says which format it found."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vigil.batch import DeadLetter, LineBatch, LogRecord
from vigil.errors import FormatError
from vigil.ingest.formats.autodetect import AutoParser
from vigil.ingest.parser import build_parser

T = datetime(2024, 3, 14, 9, 26, 53, tzinfo=UTC)


def parse(spec: str, line: str, **options: Any) -> LogRecord:
    parser = build_parser(spec, **options)
    # Through a batch with a second copy, so the batch fast path is what is tested.
    batch = LineBatch("s", "f", [line.encode(), line.encode()], [0, 1], 2)
    result = parser.parse_batch(batch)
    assert not result.dead_letters, result.dead_letters
    first, second = result.records
    assert first.observed_at == second.observed_at
    alone = parser.parse_line(line)
    assert isinstance(alone, LogRecord)
    return first


def check(record: LogRecord, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert getattr(record, name) == value, name


NGINX_CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        # The example: combined plus timings and X-Forwarded-For.
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" $request_time $upstream_response_time '
        '"$http_x_forwarded_for"',
        '10.0.0.5 - - [14/Mar/2024:10:26:53 +0100] "GET /api?x=1 HTTP/1.1" 502 157 "-" '
        '"curl/8.5.0" 0.012 0.004, 0.008 : 0.000 "203.0.113.9"',
        {
            "client_ip": "10.0.0.5",
            "observed_at": T,
            "path": "/api",
            "query": "x=1",
            "status": 502,
            "request_time": pytest.approx(0.012),
            "forwarded_for": "203.0.113.9",
            "extra": {"upstream_response_time": "0.004, 0.008 : 0.000"},
        },
    ),
    (
        # Separate request pieces and an ISO time, as many nginx setups log them.
        "$time_iso8601 $remote_addr $request_method $request_uri $server_protocol $status "
        "$bytes_sent $request_time $host",
        "2024-03-14T10:26:53+01:00 2001:db8::7 DELETE /api/items/9?force=1 HTTP/2.0 204 0 "
        "0.001 shop.example.com",
        {
            "observed_at": T,
            "client_ip": "2001:db8::7",
            "method": "DELETE",
            "target": "/api/items/9?force=1",
            "path": "/api/items/9",
            "query": "force=1",
            "protocol": "HTTP/2.0",
            "bytes_sent": 0,
            "host": "shop.example.com",
            "malformed": False,
        },
    ),
    (
        # Pipe-separated, epoch milliseconds time, $uri and $args apart.
        "$msec|$remote_addr|$request_method|$uri|$args|$status|$http_user_agent",
        "1710408413.250|192.0.2.44|GET|/search|q=shoes&page=2|200|Mozilla/5.0 (X11) Firefox/120",
        {
            "observed_at": datetime(2024, 3, 14, 9, 26, 53, 250000, tzinfo=UTC),
            "target": "/search?q=shoes&page=2",
            "path": "/search",
            "query": "q=shoes&page=2",
            "user_agent": "Mozilla/5.0 (X11) Firefox/120",
        },
    ),
    (
        # Unknown variables become extras; ${var} braces; a pasted directive with escape=.
        "log_format custom escape=default '${remote_addr} [$time_local] \"$request\" $status '\n"
        "    '$request_length rt=$request_time ua=\"$http_user_agent\" ssl=$ssl_protocol';",
        '198.51.100.2 [14/Mar/2024:09:26:53 +0000] "POST /login HTTP/1.1" 401 612 rt=0.250 '
        'ua="okhttp/4.12.0" ssl=TLSv1.3',
        {
            "observed_at": T,
            "method": "POST",
            "status": 401,
            "request_time": pytest.approx(0.25),
            "user_agent": "okhttp/4.12.0",
            "extra": {"request_length": "612", "ssl_protocol": "TLSv1.3"},
        },
    ),
    (
        # Host first, time unbracketed, quoted referer with an escaped quote.
        '$host $remote_addr $time_local "$request" $status "$http_referer" $connection',
        'api.example.com 192.0.2.9 14/Mar/2024:09:26:53 +0000 "GET / HTTP/1.1" 200 '
        '"https://x.example/?q=\\x22a\\x22" 1234',
        {
            "host": "api.example.com",
            "observed_at": T,
            "referer": 'https://x.example/?q="a"',
            "extra": {"connection": "1234"},
        },
    ),
    (
        # Two adjacent variables with no separator between them.
        '$remote_addr:$remote_port $status$request_time [$time_local] "$request"',
        '192.0.2.1:51234 2000.123 [14/Mar/2024:09:26:53 +0000] "GET /x HTTP/1.1"',
        {"client_ip": "192.0.2.1", "path": "/x", "extra": {"remote_port": "51234"}},
    ),
]


@pytest.mark.parametrize(("spec", "line", "expected"), NGINX_CASES)
def test_nginx_log_formats(spec: str, line: str, expected: dict[str, Any]) -> None:
    check(parse(spec, line), expected)


APACHE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        # The request time in both units, the virtual host and the client address.
        '%v %a %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %T',
        'www.example.org 2001:db8::1 - bob [14/Mar/2024:09:26:53 +0000] "GET /index.html HTTP/1.1"'
        ' 200 - "-" "Mozilla/5.0" 15234 0',
        {
            "host": "www.example.org",
            "client_ip": "2001:db8::1",
            "remote_user": "bob",
            "bytes_sent": 0,
            "request_time": pytest.approx(0.015234),
            "extra": {"request_time_s": "0"},
        },
    ),
    (
        # A pasted LogFormat line with headers, %O, %{ms}T and %V.
        'LogFormat "%h %V %t \\"%r\\" %s %O %{ms}T \\"%{X-Forwarded-For}i\\" '
        '\\"%{Cookie}i\\" %{SSL_PROTOCOL}e" proxied',
        '10.0.0.1 shop.example.com [14/Mar/2024:10:26:53 +0100] "PUT /api/cart HTTP/1.1" 200 '
        '845 31 "203.0.113.7, 10.0.0.1" "sid=abc; theme=dark" TLSv1.3',
        {
            "client_ip": "10.0.0.1",
            "host": "shop.example.com",
            "observed_at": T,
            "method": "PUT",
            "bytes_sent": 845,
            "request_time": pytest.approx(0.031),
            "forwarded_for": "203.0.113.7, 10.0.0.1",
            "extra": {"http_cookie": "sid=abc; theme=dark", "env_ssl_protocol": "TLSv1.3"},
        },
    ),
    (
        # Pieces instead of %r, %{sec}t epoch time, unknown directive kept generically.
        "%{sec}t %h %m %U%q %H %>s %B %k %Z",
        "1710408413 192.0.2.3 GET /search?q=a+b HTTP/1.1 200 5120 3 zzz",
        {
            "observed_at": T,
            "method": "GET",
            "path": "/search",
            "query": "q=a+b",
            "target": "/search?q=a+b",
            "protocol": "HTTP/1.1",
            "bytes_sent": 5120,
            "extra": {"keepalive_requests": "3", "apache_Z": "zzz"},
        },
    ),
    (
        # A strftime time, a conditional header and the original and final statuses.
        '%h [%{%Y-%m-%d %H:%M:%S}t] "%r" %s %>s %!200{Referer}i',
        '192.0.2.3 [2024-03-14 09:26:53] "GET /old HTTP/1.1" 301 200 https://x.example/',
        {
            "observed_at": T,
            "status": 200,
            "referer": "https://x.example/",
            "extra": {"status_original": "301"},
        },
    ),
]


@pytest.mark.parametrize(("spec", "line", "expected"), APACHE_CASES)
def test_apache_log_formats(spec: str, line: str, expected: dict[str, Any]) -> None:
    check(parse(spec, line), expected)


def test_custom_format_lines_that_do_not_fit_are_dead_letters() -> None:
    parser = build_parser("$remote_addr $status")
    dead = parser.parse_line("1.2.3.4 OK")
    assert isinstance(dead, DeadLetter)
    assert "nginx-custom" in dead.reason


@pytest.mark.parametrize(
    "spec",
    ["plain words", "log_format main;", "%%", 'LogFormat nothing "'],
)
def test_bad_format_strings_raise_format_error(spec: str) -> None:
    with pytest.raises(FormatError):
        build_parser(spec)


NGINX_JSON = (
    '{"time_iso8601":"2024-03-14T10:26:53+01:00","remote_addr":"203.0.113.50",'
    '"request":"GET /p?q=\\"x\\" HTTP/1.1","status":"404","body_bytes_sent":"153",'
    '"http_referer":"","http_user_agent":"Mozilla/5.0 \\u0001","request_time":"0.002",'
    '"http_x_forwarded_for":"-","host":"shop.example.com","upstream_addr":"10.0.0.9:80"}'
)


def test_nginx_json_lines_with_default_keys() -> None:
    record = parse("nginx-json", NGINX_JSON)
    check(
        record,
        {
            "observed_at": T,
            "client_ip": "203.0.113.50",
            "method": "GET",
            "target": '/p?q="x"',
            "query": 'q="x"',
            "status": 404,
            "bytes_sent": 153,
            "referer": "",
            "user_agent": "Mozilla/5.0 \x01",
            "request_time": pytest.approx(0.002),
            "forwarded_for": "",
            "host": "shop.example.com",
            "extra": {"upstream_addr": "10.0.0.9:80"},
        },
    )


def test_json_lines_with_a_field_mapping_and_nested_keys() -> None:
    line = (
        '{"ts": 1710408413250, "client": {"ip": "2001:db8::5"}, "http": {"method": "POST", '
        '"path": "/graphql", "status": 200}, "ua": "ShopApp/5.2", "dur_s": 0.5, "trace": "ab12"}'
    )
    record = parse(
        "json",
        line,
        json_fields={
            "time": "ts",
            "client_ip": "client.ip",
            "method": "http.method",
            "path": "http.path",
            "status": "http.status",
            "user_agent": "ua",
            "request_time": "dur_s",
        },
    )
    check(
        record,
        {
            "observed_at": datetime(2024, 3, 14, 9, 26, 53, 250000, tzinfo=UTC),
            "client_ip": "2001:db8::5",
            "method": "POST",
            "target": "/graphql",
            "status": 200,
            "user_agent": "ShopApp/5.2",
            "request_time": 0.5,
            "extra": {"trace": "ab12"},
            "malformed": False,
        },
    )


def test_json_field_mapping_rejects_unknown_fields() -> None:
    with pytest.raises(FormatError, match="client_ip"):
        build_parser("json", json_fields={"colour": "c"})


def test_nginx_json_log_format_template_gives_the_key_mapping() -> None:
    spec = (
        'log_format j escape=json \'{"when":"$msec","ip":"$remote_addr",'
        '"req":"$request","code":$status,"agent":"$http_user_agent"}\';'
    )
    line = (
        '{"when":"1710408413.000","ip":"192.0.2.8","req":"HEAD / HTTP/1.1","code":200,"agent":"x"}'
    )
    record = parse(spec, line)
    check(
        record,
        {
            "observed_at": T,
            "client_ip": "192.0.2.8",
            "method": "HEAD",
            "status": 200,
            "user_agent": "x",
        },
    )


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"unrelated": true}',
        '{"time": "yesterday", "remote_addr": "1.2.3.4"}',
    ],
)
def test_json_lines_that_are_not_access_logs_are_dead_letters(line: str) -> None:
    assert isinstance(build_parser("json").parse_line(line), DeadLetter)


def test_json_request_that_is_not_http_is_a_malformed_record() -> None:
    record = build_parser("json").parse_line('{"remote_addr":"1.2.3.4","request":"\\u0016\\u0003"}')
    assert isinstance(record, LogRecord)
    assert record.malformed


AUTO_SAMPLES = [
    (
        '1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"',
        "nginx/Apache combined",
    ),
    ('1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1', "nginx/Apache common"),
    (
        '1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "5.6.7.8"',
        "nginx main (combined with X-Forwarded-For)",
    ),
    (
        '1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" 0.120',
        "nginx combined with $request_time (seconds)",
    ),
    (
        '1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" 120433',
        "Apache combined with %D (request time in microseconds)",
    ),
    (
        'host.example:80 1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"',
        "Apache vhost_combined",
    ),
    (NGINX_JSON, "JSON lines (nginx escape=json or any JSON log)"),
    (
        '1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" rt=1 cache=HIT',
        "nginx/Apache combined followed by other fields (kept as extra 'trailing')",
    ),
]


@pytest.mark.parametrize(("line", "description"), AUTO_SAMPLES)
def test_auto_detects_and_says_what_it_chose(line: str, description: str) -> None:
    parser = build_parser("auto")
    assert isinstance(parser, AutoParser)
    assert parser.chosen is None
    lines = [b"garbage first", line.encode(), line.encode()]
    result = parser.parse_batch(LineBatch("s", "f", lines, [0, 1, 2], 3))
    assert parser.chosen is not None
    assert parser.describe() == description
    assert [r.offset for r in result.records] == [1, 2]
    assert [d.offset for d in result.dead_letters] == [0]


def test_auto_keeps_waiting_while_nothing_is_recognised() -> None:
    parser = build_parser("auto")
    first = parser.parse_batch(LineBatch("s", "f", [b"??", b"!!"], [0, 3], 6))
    assert [d.offset for d in first.dead_letters] == [0, 3]
    assert "no known log format" in first.dead_letters[0].reason
    assert parser.describe() == "auto (no format detected yet)"
    line = b'1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"'
    second = parser.parse_batch(LineBatch("s", "f", [line], [6], 80))
    assert len(second.records) == 1
    assert parser.describe() == "nginx/Apache combined"


def test_auto_prefers_the_format_most_sample_lines_fit() -> None:
    common = b'1.2.3.4 - - [14/Mar/2024:09:26:53 +0000] "GET / HTTP/1.1" 200 1'
    combined = common + b' "-" "ua"'
    parser = build_parser("auto")
    parser.parse_batch(LineBatch("s", "f", [common, combined, combined], [0, 1, 2], 3))
    assert parser.describe() == "nginx/Apache combined"
