"""Config sections: each component's typed section, addressable by nested names
(`VIGIL_STORE__RETRY_MAX_SECONDS`) while the flat names (`VIGIL_STORE_RETRY_MAX_SECONDS`)
keep working."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vigil.config import SECTIONS, Settings, load_settings
from vigil.errors import ConfigError
from vigil.sinks.broker import MemoryBroker, RedisBroker, make_broker


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("VIGIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env but the test's own


def test_flat_names_keep_working(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STORE_RETRY_MAX_SECONDS", "5")
    monkeypatch.setenv("VIGIL_LOG_PATHS", "a.log, b.log")
    monkeypatch.setenv("VIGIL_REDIS_PREFIX", "edge")
    settings = load_settings()
    assert settings.store.retry_max_seconds == 5.0
    assert settings.file_source.paths == ("a.log", "b.log")
    assert settings.broker.prefix == "edge"


def test_nested_names_set_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STORE__RETRY_MAX_SECONDS", "5")
    monkeypatch.setenv("VIGIL_FILE_SOURCE__PATHS", "a.log,b.log")
    monkeypatch.setenv("VIGIL_FILE_SOURCE__BATCH_SIZE", "100")
    monkeypatch.setenv("VIGIL_WEBHOOKS__SECRET", "s3cret")
    monkeypatch.setenv("VIGIL_BROKER__REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("VIGIL_HTTP_INGEST__MAX_LINES", "50")
    settings = load_settings()
    assert settings.store.retry_max_seconds == 5.0
    assert settings.file_source.paths == ("a.log", "b.log")
    assert settings.file_source.batch_size == 100
    assert settings.webhooks.secret is not None
    assert settings.webhooks.secret.get_secret_value() == "s3cret"
    assert settings.http_ingest.max_lines == 50
    # The flat field the component's neighbours still read says the same.
    assert settings.batch_size == 100 and settings.redis_url == "redis://127.0.0.1:6379/3"
    assert isinstance(make_broker(settings.broker), RedisBroker)
    assert settings.redacted()["webhook_secret"] == "***"


def test_a_nested_name_wins_over_the_flat_one_of_the_same_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIL_STORE_RETRY_MAX_SECONDS", "9")
    monkeypatch.setenv("VIGIL_STORE__RETRY_MAX_SECONDS", "5")
    assert load_settings().store.retry_max_seconds == 5.0


def test_sources_keep_their_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # .env < environment < arguments (command-line options), whichever name each uses.
    (tmp_path / ".env").write_text(
        "VIGIL_STORE__INCIDENT_QUIET_MINUTES=7\nVIGIL_FILE_SOURCE__BATCH_SIZE=300\n"
        "VIGIL_BLOCK_DURATION_MINUTES=60\n"
    )
    monkeypatch.setenv("VIGIL_BATCH_SIZE", "200")
    monkeypatch.setenv("VIGIL_STORE__BLOCK_DURATION_MINUTES", "90")
    settings = load_settings()
    assert settings.store.incident_quiet_minutes == 7
    assert settings.file_source.batch_size == 200
    assert settings.store.block_duration_minutes == 90
    monkeypatch.setenv("VIGIL_FILE_SOURCE__BATCH_SIZE", "400")
    assert load_settings(batch_size=500).file_source.batch_size == 500


def test_a_bad_nested_value_names_both_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STORE__RETRY_MAX_SECONDS", "-1")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "VIGIL_STORE_RETRY_MAX_SECONDS (VIGIL_STORE__RETRY_MAX_SECONDS)" in str(error.value)


def test_without_redis_the_broker_is_in_process() -> None:
    assert isinstance(make_broker(load_settings().broker), MemoryBroker)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_a_section_has_the_defaults_and_fields_of_its_flat_names(name: str) -> None:
    cls = SECTIONS[name]
    assert set(cls.flat) == set(cls.model_fields)
    assert set(cls.flat.values()) <= set(Settings.model_fields)
    # Each default is written once, on the setting: a section has none of its own.
    assert all(field.is_required() for field in cls.model_fields.values())
    section = getattr(load_settings(), name)
    assert isinstance(section, cls)
    defaults = {
        key: Settings.model_fields[flat].get_default(call_default_factory=True)
        for key, flat in cls.flat.items()
    }
    assert section == cls(**defaults)


def test_each_stage_setting_has_its_section_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_PARSER__FORMAT", "combined")
    monkeypatch.setenv("VIGIL_RULES__PARANOIA_LEVEL", "3")
    monkeypatch.setenv("VIGIL_RULES__DISABLED", "a,b")
    monkeypatch.setenv("VIGIL_BEHAVIOUR__ENABLED", "false")
    monkeypatch.setenv("VIGIL_PROFILE__LEARNING_HOURS", "2")
    monkeypatch.setenv("VIGIL_RUNNER__QUEUE_SIZE", "3")
    monkeypatch.setenv("VIGIL_AGENT__BATCH_MS", "50")
    monkeypatch.setenv("VIGIL_CLUSTER__LEASE_SECONDS", "4")
    monkeypatch.setenv("VIGIL_ENRICH__GEOIP_ASN_DB", "asn.mmdb")
    # The flat names keep working beside them.
    monkeypatch.setenv("VIGIL_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("VIGIL_CLUSTER_PARTITIONS", "6")
    settings = load_settings()
    assert settings.parser.format == "combined"
    assert settings.parser.trusted_proxies == ("10.0.0.0/8",)
    assert (settings.rules.paranoia_level, settings.rules.disabled) == (3, ("a", "b"))
    assert settings.behaviour.enabled is False and settings.behaviour_enabled is False
    assert settings.profile.learning_hours == 2.0
    assert settings.runner.queue_size == 3
    assert settings.agent.batch_ms == 50
    assert (settings.cluster.lease_seconds, settings.cluster.partitions) == (4.0, 6)
    assert settings.enrich.geoip_asn_db == Path("asn.mmdb")
    monkeypatch.setenv("VIGIL_RULES__PARANOIA_LEVEL", "9")
    with pytest.raises(ConfigError, match="VIGIL_PARANOIA_LEVEL"):
        load_settings()  # validated as the setting it stands for


def test_an_unknown_key_of_a_section_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STORE__RETRY_MAX_SECOND", "5")
    with pytest.raises(ConfigError, match=r"VIGIL_STORE__RETRY_MAX_SECOND.*retry_max_seconds"):
        load_settings()


def test_a_config_file_holds_flat_names_and_section_tables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(
        'site = "shop"\n'
        "store_retry_max_seconds = 9\n"
        "[store]\n"
        "retry_max_seconds = 5\n"
        "block_simulation = true\n"
        "[file_source]\n"
        'paths = ["/var/log/a.log", "/var/log/b.log"]\n'
        "[jsonl_sink]\n"
        f'path = "{tmp_path / "events.jsonl"}"\n'
    )
    monkeypatch.setenv("VIGIL_CONFIG_FILE", str(config))
    monkeypatch.setenv("VIGIL_BLOCK_SIMULATION", "false")  # the environment overrides the file
    settings = load_settings()
    assert settings.site == "shop"
    assert settings.store.retry_max_seconds == 5.0
    assert settings.store.block_simulation is False
    assert settings.file_source.paths == ("/var/log/a.log", "/var/log/b.log")
    assert settings.jsonl_sink.path == tmp_path / "events.jsonl"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[store]\nretry_max_second = 5\n", "retry_max_seconds"),
        ("colour = 'blue'\n", "colour"),
        ("[store\n", "cannot read"),
    ],
)
def test_a_bad_config_file_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, named: str
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(text)
    monkeypatch.setenv("VIGIL_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match=named):
        load_settings()
