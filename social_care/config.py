"""Settings from an optional TOML file and the environment; secrets stay wrapped."""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from social_care.secrets import Secret
from social_care.settings_fields import secret_field
from social_care.store.db import DEFAULT_URL

ENV_CONFIG = "SOCIAL_CARE_CONFIG"
ENV_DATABASE_URL = "SOCIAL_CARE_DATABASE_URL"


class ConfigError(ValueError):
    """The configuration file or environment is invalid; the message says where."""


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries: capped exponential backoff with full jitter."""

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_rate_limit_waits: int = 20
    max_retry_after: float = 3600.0


@dataclass(frozen=True)
class Settings:
    """Everything `serve` and `demo` need to run."""

    database_url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    console: bool = True
    session_secret: Secret | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pipeline_interval: float = 0.5
    outbox_interval: float = 0.5
    channels: tuple[Mapping[str, Any], ...] = ()
    triage: Mapping[str, Any] = field(default_factory=dict)
    business_hours: Mapping[str, Any] = field(default_factory=dict)
    brand: str = "ACME"


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _typed(section: Mapping[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    value = section.get(key, default)
    if value is default:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key} must be {kind.__name__}, got {value!r}")
    return value


def secret_from(section: Mapping[str, Any], key: str, where: str, env: Mapping[str, str] | None = None) -> Secret | None:
    """Read `key` directly or from the environment variable named by `key_env`."""
    return secret_field(section, key, f"[{where}]", ConfigError, env)


def _business_hours(table: Mapping[str, Any]) -> Mapping[str, Any]:
    """Validate the optional [business_hours] calendar now, so a typo fails at start, not in a report."""
    if table:
        from social_care.metrics.business_hours import BusinessHours, BusinessHoursError

        try:
            BusinessHours.from_dict(table)
        except BusinessHoursError as err:
            raise ConfigError(f"[business_hours] {err}") from err
    return table


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from a TOML file (or $SOCIAL_CARE_CONFIG) and environment overrides."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_CONFIG)
    data: Mapping[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"config file not found: {path}") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: {err}") from err
    service = _section(data, "service")
    database = _section(data, "database")
    outbox = _section(data, "outbox")
    pipeline = _section(data, "pipeline")
    channels = data.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, Mapping) for c in channels):
        raise ConfigError("[[channels]] must be an array of tables")
    seen: set[tuple[str, str]] = set()
    for index, channel in enumerate(channels):
        for required in ("platform", "key"):
            if not isinstance(channel.get(required), str) or not channel[required]:
                raise ConfigError(f"channels[{index}].{required} is required")
        ident = (channel["platform"], channel["key"])
        if ident in seen:
            raise ConfigError(f"channel {ident[0]}:{ident[1]} is configured twice")
        seen.add(ident)
    retry = RetryPolicy(
        max_attempts=_typed(outbox, "outbox", "max_attempts", int, RetryPolicy.max_attempts),
        backoff_base=_typed(outbox, "outbox", "backoff_base", float, RetryPolicy.backoff_base),
        backoff_cap=_typed(outbox, "outbox", "backoff_cap", float, RetryPolicy.backoff_cap),
        max_rate_limit_waits=_typed(outbox, "outbox", "max_rate_limit_waits", int, RetryPolicy.max_rate_limit_waits),
    )
    port = env.get("SOCIAL_CARE_PORT")
    return Settings(
        database_url=env.get(ENV_DATABASE_URL) or _typed(database, "database", "url", str, DEFAULT_URL),
        host=env.get("SOCIAL_CARE_HOST") or _typed(service, "service", "host", str, "127.0.0.1"),
        port=int(port) if port else _typed(service, "service", "port", int, 8080),
        public_url=_typed(service, "service", "public_url", str, None),
        console=_typed(service, "service", "console", bool, True),
        session_secret=secret_from(service, "session_secret", "service", env),
        retry=retry,
        pipeline_interval=_typed(pipeline, "pipeline", "interval", float, 0.5),
        outbox_interval=_typed(outbox, "outbox", "interval", float, 0.5),
        channels=tuple(channels),
        triage=_section(data, "triage"),
        business_hours=_business_hours(_section(data, "business_hours")),
        brand=_typed(service, "service", "brand", str, "ACME"),
    )
