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
