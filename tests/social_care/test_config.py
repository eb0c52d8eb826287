"""Configuration: a TOML file plus environment overrides; bad files are explained, secrets never shown."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from social_care.config import ConfigError, load_settings
from social_care.secrets import Secret


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "care.toml"
    path.write_text(text)
    return path


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, """
[service]
port = 9000
session_secret_env = "CARE_SESSION"
[database]
url = "sqlite:///from-file.db"
[outbox]
max_attempts = 7
backoff_base = 2
[[channels]]
platform = "telegram"
key = "acme"
""")
    env = {"SOCIAL_CARE_DATABASE_URL": "postgresql://care@db/care", "CARE_SESSION": "s3ss10n-secret"}
    settings = load_settings(path, env)
    assert settings.port == 9000
    assert settings.database_url == "postgresql://care@db/care"  # the environment wins
    assert settings.retry.max_attempts == 7 and settings.retry.backoff_base == 2.0
    assert settings.session_secret is not None and settings.session_secret.reveal() == "s3ss10n-secret"
    assert "s3ss10n-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[service]\nport = 'eighty'", "service.port must be int"),
        ("[[channels]]\nkey = 'acme'", "channels[0].platform is required"),
        ("[[channels]]\nplatform='telegram'\nkey='a'\n[[channels]]\nplatform='telegram'\nkey='a'", "configured twice"),
        ("[service\nport = 1", "care.toml"),
        ("[service]\nsession_secret_env = 'NOT_SET_ANYWHERE'", "environment variable NOT_SET_ANYWHERE"),
    ],
)
def test_bad_configuration_is_explained(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(write(tmp_path, text), {})


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", {})


def test_secrets_do_not_print_and_compare_in_constant_time(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("123456:very-secret-token")
    logging.getLogger("test").warning("connecting with %s / %r / %s", secret, secret, [secret])
    assert "very-secret" not in caplog.text
    assert secret.matches("123456:very-secret-token") and not secret.matches("123456:other")
    assert not secret.matches(None)


def test_a_header_with_undecodable_bytes_is_just_a_mismatch() -> None:
    header_as_aiohttp_decodes_it = b"\xff\xfe".decode("utf-8", "surrogateescape")
    assert not Secret("s3cret").matches(header_as_aiohttp_decodes_it)


def test_alerts_defaults_and_values(tmp_path: Path) -> None:
    defaults = load_settings(write(tmp_path, ""), {}).alerts
    assert (defaults.webhook_url, defaults.sigmas, defaults.min_count, defaults.baseline_days,
            defaults.check_interval, defaults.enabled) == (None, 3.0, 5, 7, 300.0, True)
    path = write(tmp_path, """
[alerts]
webhook_url_env = "CARE_ALERT_HOOK"
sigmas = 2
min_count = 8
baseline_days = 14
check_interval = 60
""")
    alerts = load_settings(path, {"CARE_ALERT_HOOK": "https://hooks.example/T0K3N-secret"}).alerts
    assert alerts.webhook_url is not None and alerts.webhook_url.reveal() == "https://hooks.example/T0K3N-secret"
    assert (alerts.sigmas, alerts.min_count, alerts.baseline_days, alerts.check_interval) == (2.0, 8, 14, 60.0)
    assert "T0K3N" not in repr(load_settings(path, {"CARE_ALERT_HOOK": "https://hooks.example/T0K3N-secret"}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[alerts]\nsigmas = 'three'", "alerts.sigmas must be float"),
        ("[alerts]\nmin_count = 0", "alerts.min_count must be at least 1"),
        ("[alerts]\nbaseline_days = 0", "alerts.baseline_days must be between 1 and 60"),
        ("[alerts]\ncheck_interval = -5", "check_interval must be a positive number of seconds"),
        ("[alerts]\nwebhook_url = 'ftp://hooks.example/T0K3N'", "'webhook_url' must be an http:// or https:// URL"),
        ("alerts = 3", "[alerts] must be a table"),
    ],
)
def test_bad_alerts_are_explained_without_the_url(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        load_settings(write(tmp_path, text), {})
    assert "T0K3N" not in str(raised.value)


def test_alerts_environment_overrides(tmp_path: Path) -> None:
    env = {"SOCIAL_CARE_ALERTS_CHECK_INTERVAL": "1.5", "SOCIAL_CARE_ALERTS_MIN_COUNT": "2"}
    alerts = load_settings(write(tmp_path, "[alerts]\ncheck_interval = 600\n"), env).alerts
    assert (alerts.check_interval, alerts.min_count) == (1.5, 2)
    with pytest.raises(ConfigError, match="SOCIAL_CARE_ALERTS_MIN_COUNT must be a number"):
        load_settings(write(tmp_path, ""), {"SOCIAL_CARE_ALERTS_MIN_COUNT": "many"})


def test_the_console_section_with_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "care.toml"
    path.write_text('[service]\nport = 9000\n[console]\nsession_ttl = 3600\nlanguage = "it"\n'
                    'origins = ["care.example.com:443"]\ncanned_replies = "/etc/social-care/canned.toml"\n')
    settings = load_settings(path, env={})
    console = settings.console_settings
    assert console.port_for(settings.port) == 9001  # no port: next to the service
    assert (console.session_ttl, console.language, console.origins) == (3600.0, "it", ("care.example.com:443",))
    assert console.canned_replies == "/etc/social-care/canned.toml"
    overridden = load_settings(path, env={"SOCIAL_CARE_CONSOLE_PORT": "9100", "SOCIAL_CARE_CONSOLE_SESSION_TTL": "60",
                                          "SOCIAL_CARE_CONSOLE_ORIGINS": "a:1, b:2"}).console_settings
    assert (overridden.port_for(9000), overridden.session_ttl, overridden.origins) == (9100, 60.0, ("a:1", "b:2"))


@pytest.mark.parametrize(("table", "message"), [
    ("port = 70000", "console.port must be between 1 and 65535"),
    ('language = "fr"', "console.language must be one of en, it"),
    ("session_ttl = 0", "session_ttl must be a positive number of seconds"),
    ('origins = "x:1"', "console.origins must be a list"),
    ("colour = 'blue'", "unknown key 'colour'"),
])
def test_a_bad_console_section_names_the_key(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "care.toml"
    path.write_text(f"[console]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, env={})
