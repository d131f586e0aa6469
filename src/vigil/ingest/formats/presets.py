"""The named log formats vigil knows, written as the nginx or Apache format strings they are."""

from __future__ import annotations

from dataclasses import dataclass

NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
NGINX_COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
APACHE_COMMON = '%h %l %u %t "%r" %>s %b'
APACHE_COMBINED = APACHE_COMMON + ' "%{Referer}i" "%{User-Agent}i"'


@dataclass(frozen=True, slots=True)
class Preset:
    """A named format: which compiler reads `template`, and how `describe()` calls it."""

    name: str
    syntax: str
    template: str
    description: str


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("combined", "nginx", NGINX_COMBINED, "nginx/Apache combined"),
        Preset("common", "nginx", NGINX_COMMON, "nginx/Apache common"),
        Preset(
            "nginx-main",
            "nginx",
            NGINX_COMBINED + ' "$http_x_forwarded_for"',
            "nginx main (combined with X-Forwarded-For)",
        ),
        Preset(
            "nginx-combined-time",
            "nginx",
            NGINX_COMBINED + " $request_time",
            "nginx combined with $request_time (seconds)",
        ),
        Preset("apache-common", "apache", APACHE_COMMON, "Apache common"),
        Preset("apache-combined", "apache", APACHE_COMBINED, "Apache combined"),
        Preset(
            "apache-combined-time",
            "apache",
            APACHE_COMBINED + " %D",
            "Apache combined with %D (request time in microseconds)",
        ),
        Preset(
            "apache-combined-seconds",
            "apache",
            APACHE_COMBINED + " %T",
            "Apache combined with %T (request time in seconds)",
        ),
        Preset(
            "apache-vhost-combined",
            "apache",
            '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
            "Apache vhost_combined",
        ),
        Preset(
            "combined-extra",
            "combined-extra",
            NGINX_COMBINED,
            "nginx/Apache combined followed by other fields (kept as extra 'trailing')",
        ),
        Preset("json", "json", "", "JSON lines (nginx escape=json or any JSON log)"),
    )
}

ALIASES = {
    "nginx": "combined",
    "nginx-combined": "combined",
    "nginx-common": "common",
    "apache": "apache-combined",
    "apache-combined-us": "apache-combined-time",
    "apache-combined-d": "apache-combined-time",
    "apache-combined-t": "apache-combined-seconds",
    "vhost-combined": "apache-vhost-combined",
    "nginx-json": "json",
    "jsonl": "json",
}

AUTO_CANDIDATES = (
    "combined",
    "nginx-main",
    "apache-combined-time",
    "nginx-combined-time",
    "common",
    "apache-vhost-combined",
    "json",
    "combined-extra",
)
"""Formats `auto` tries, in order of preference when several read a sample equally well.

An integer after a combined line reads as Apache `%D` (microseconds), the usual choice; a
decimal one as nginx `$request_time`.
"""


def format_names() -> list[str]:
    """Every name `build_parser` accepts, `auto` first."""
    return ["auto", *PRESETS, *ALIASES]
